"""Replay a trace minute by minute through the real tick (observe, decide, act) on a simulated world.

The same driver serves `bbbscale demo` (over real HTTP to the local Scalelite) and `bbbscale simulate`
(in-process adapters, fast enough for a school week). Meetings join over the first `ramp_minutes` of
their life, are pinned to the server Scalelite placed them on, and end at their trace end. The outcome
counts what users would feel: rejected meetings (no enabled server), killed meetings (a server stopped
under them: must be 0), and overloaded server-minutes (a server above its capacity).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import chain
from operator import attrgetter

from chalicelib.domain.load import room_costs

RAMP_MINUTES = 5.0


@dataclass
class Sample:
    """One simulated minute, for plots and summaries."""

    at: datetime
    users: int
    rooms: int
    load_units: float
    capacity_units: float  # servers enabled in Scalelite
    serving: dict[str, int]  # enabled servers per provider
    running: dict[str, int]  # VMs running (billed) per provider
    desired: dict[str, int]
    overloaded: int


@dataclass
class Outcome:
    samples: list[Sample] = field(default_factory=list)
    rejected: int = 0
    killed: list = field(default_factory=list)
    overloaded_server_minutes: int = 0
    server_minutes: int = 0
    ticks: list[dict] = field(default_factory=list)


class Replay:
    """Feeds a trace's meetings into the world and ticks the runtime once a simulated minute."""

    def __init__(
        self,
        trace,
        world,
        runtime,
        clock,
        tick: Callable[[datetime], dict | None] | None = None,
        ramp_minutes: float = RAMP_MINUTES,
        keep_ticks: bool = False,
    ):
        self.world, self.rt, self.clock = world, runtime, clock
        self.tick = tick or (lambda now: runtime.tick(now=now))
        self.ramp = ramp_minutes
        self.keep_ticks = keep_ticks
        self.pending = sorted(trace, key=lambda m: m.start)
        self.active: dict[str, object] = {}
        self.ends: list[tuple[datetime, str]] = []
        self.cursor = 0
        self.joined: dict[str, int] = {}

    def _feed(self, now: datetime) -> None:
        while self.ends and self.ends[0][0] <= now:
            _, meeting_id = heapq.heappop(self.ends)
            if self.active.pop(meeting_id, None) is not None:
                self.world.end_meeting(meeting_id)
                self.joined.pop(meeting_id, None)  # a room still filling up when it ends
        while self.cursor < len(self.pending) and self.pending[self.cursor].start <= now:
            m = self.pending[self.cursor]
            self.cursor += 1
            if m.end <= now:
                continue
            if (
                self.world.create_meeting(
                    m.meeting_id, max(m.start, now - timedelta(minutes=1)), participants=1, moderators=1
                )
                is not None
            ):
                self.active[m.meeting_id] = m
                heapq.heappush(self.ends, (m.end, m.meeting_id))
                # The teacher and the first pupils join right after the create, before the next room is
                # created: Scalelite counts each join, which is what spreads a burst of creates.
                first = math.ceil(m.participants / max(self.ramp, 1.0))
                if first > 1:
                    self.world.join_meeting(m.meeting_id, users=first - 1)
                self.joined[m.meeting_id] = max(first, 1)
        for meeting_id in list(self.joined):  # only rooms still filling up (a class has ~1,000 running)
            m = self.active[meeting_id]
            elapsed = (now - m.start).total_seconds()
            share = min(1.0, max(elapsed / 60.0, 0.0) / self.ramp) if self.ramp else 1.0
            if share >= 1.0 and elapsed >= (self.ramp + 1) * 60:
                del self.joined[meeting_id]  # full: nothing changes any more until it ends
                continue
            # Users join one by one: each join bumps the server's load in Scalelite (increment_load), which
            # is what spreads the rooms created at the top of the hour between two polls.
            target = max(1, math.ceil(m.participants * share))
            if target > self.joined[meeting_id]:
                self.world.join_meeting(meeting_id, users=target - self.joined[meeting_id])
                self.joined[meeting_id] = target
            voice, video, listen_only = (
                round(m.voice * share),
                round(m.video * share),
                round(m.listen_only * share),
            )
            room = self.world.meetings.get(meeting_id)
            if room is None or (room.voice, room.video, room.listen_only) != (voice, video, listen_only):
                self.world.resize_meeting(meeting_id, voice=voice, video=video, listen_only=listen_only)

    def step(self, now: datetime, outcome: Outcome) -> dict | None:
        self.clock.set(now)
        self._feed(now)
        self.world.advance(now)
        result = self.tick(now)
        if self.keep_ticks and result is not None:
            outcome.ticks.append(result)
        outcome.samples.append(self._sample(now, result))
        return result

    def _sample(self, now: datetime, result: dict | None) -> Sample:
        units = self._server_units(now)
        enabled = {s.url: s for s in self.world.registry.values() if s.state == "enabled" and s.online}
        serving: dict[str, int] = {}
        capacity = 0.0
        for url in enabled:
            node = self.world.node_for_url(url)
            if node is None:
                continue
            provider = provider_of(node.name)
            serving[provider] = serving.get(provider, 0) + 1
            capacity += node.capacity_units
        running: dict[str, int] = {}
        for name in units:
            provider = provider_of(name)
            running[provider] = running.get(provider, 0) + 1
        meetings = list(self.world.meetings.values())
        return Sample(
            now,
            sum(map(attrgetter("participants"), meetings)),
            len(meetings),
            sum(u for u, _ in units.values()),
            capacity,
            serving,
            running,
            dict((result or {}).get("desired", {})),
            sum(1 for u, cap in units.values() if u > cap),
        )

    def _server_units(self, now: datetime) -> dict[str, tuple[float, float]]:
        """{server: (load units, capacity)} of every powered-on server, each room costed as the tick
        costs it (a week has ~4,000 ticks of ~2,000 rooms each: `room_costs` reads the counts straight
        off the world's records, nothing is remembered between ticks, so nothing can go stale)."""
        weights = self.rt.settings.weights
        with self.world.lock:
            world = self.world
            # Per server, its rooms in creation order: the very additions the walk over every meeting
            # below makes, so the float sums are the same to the last bit.
            rooms = [list(world.on_server.get(name, {}).values()) for name in world.nodes]
            if sum(map(len, rooms)) == len(world.meetings):
                costs = room_costs(
                    chain.from_iterable(rooms), weights, now
                )  # one call: ~120 servers a minute
                out, first = {}, 0
                for (name, node), on_it in zip(world.nodes.items(), rooms):
                    out[name] = (sum(costs[first : first + len(on_it)], 0.0), node.capacity_units)
                    first += len(on_it)
                return out
            # A room on a server no longer powered on (not expected: powering off ends its rooms): the walk.
            out = {name: (0.0, node.capacity_units) for name, node in world.nodes.items()}
            meetings = world.meetings.values()
            for m, cost in zip(meetings, room_costs(meetings, weights, now)):
                units, capacity = out.get(m.server, (0.0, 0.0))
                out[m.server] = (units + cost, capacity)
        return out

    def run(
        self,
        start: datetime,
        end: datetime,
        every: timedelta = timedelta(minutes=1),
        on_step: Callable[[Sample, dict | None], None] | None = None,
        idle: Callable[[datetime], datetime | None] | None = None,
    ) -> Outcome:
        """Tick every `every` from start to end. `idle(now)` may return a later time to jump to when
        nothing can happen before it (nights of a week-long replay)."""
        outcome = Outcome()
        now = start
        while now <= end:
            wake = idle(now) if idle else None
            if wake is not None:
                now = wake.replace(second=0, microsecond=0)
                continue
            result = self.step(now, outcome)
            sample = outcome.samples[-1]
            outcome.overloaded_server_minutes += sample.overloaded
            outcome.server_minutes += sum(sample.running.values())
            if on_step:
                on_step(sample, result)
            now += every
        outcome.rejected = self.world.rejected_meetings
        outcome.killed = self.world.killed_meetings
        return outcome


@lru_cache(maxsize=4096)
def provider_of(server_name: str) -> str:
    """bbbscale-<cluster>-<provider>-<n> -> provider."""
    parts = server_name.rsplit("-", 2)
    return parts[-2] if len(parts) == 3 else "?"


class SimClock:
    """The simulated time every part of a replay reads."""

    def __init__(self, now: datetime):
        self.now = now

    def set(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
