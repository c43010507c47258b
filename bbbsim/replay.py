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
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import chain
from operator import attrgetter

from chalicelib.domain.load import at_real_size, room_costs, spreadable_units
from chalicelib.domain.tick_report import TickReport

RAMP_MINUTES = 5.0
QUIET_MARGIN = timedelta(minutes=30)  # poll rounds and looks go on this long into and out of an idle span
QUIET_SPAN = timedelta(hours=20)  # ... of at least this long (a weekend, a holiday; a night is not one)
_CREATE, _JOIN, _END = 0, 1, 2  # event kinds, in this order at one same instant


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
    overloaded_by: dict[str, int] = field(default_factory=dict)  # overloaded servers per provider
    # the load servers can share: each room at most the largest server's capacity (a room is never split;
    # one heavier than any server is one full server whatever the fleet): what the oracle packs
    spread_units: float | None = None


@dataclass
class Outcome:
    samples: list[Sample] = field(default_factory=list)
    rejected: int = 0
    killed: list = field(default_factory=list)
    refused: int = 0
    overloaded_server_minutes: int = 0
    server_minutes: int = 0
    ticks: list[TickReport] = field(default_factory=list)


class _Room:
    """A trace session while it runs: its steady counts, how many users joined, when the next ones join."""

    __slots__ = ("trace", "joined", "joins")

    def __init__(self, trace, joins: list[float]):
        self.trace, self.joined, self.joins = trace, 1, joins


class Replay:
    """Feeds a trace's meetings into the world at their own seconds and ticks the runtime once a
    simulated minute.

    Each session is created at its start plus a few seconds (a trace in whole minutes gets a seeded
    0-59 s offset: teachers do not all click in the same second); the teacher joins with the create,
    each other user at a second of their own over the first `ramp_minutes`. Scalelite's poller runs
    at its own seconds (SimWorld.run_poller), and so does the burst guard when one is given (`guard`:
    `next_check(now)` -> when it wants to look next, `check(now)`)."""

    def __init__(
        self,
        trace,
        world,
        runtime,
        clock,
        tick: Callable[[datetime], TickReport | None] | None = None,
        ramp_minutes: float = RAMP_MINUTES,
        keep_ticks: bool = False,
        guard=None,
        seed: int = 0,
        look_cost=None,
    ):
        self.world, self.rt, self.clock = world, runtime, clock
        world.clock = clock
        world.look_cost = look_cost  # bbbsim/look_cost.LookCost: the guard's calls take time
        if look_cost is not None:
            look_cost.on_wait = self._wait
        self.guard_errors = 0  # looks that raised (the replay goes on; a real guard thread would die)
        self.tick = tick or (lambda now: runtime.tick(now=now))
        self.ramp = ramp_minutes
        self.keep_ticks = keep_ticks
        self.guard = guard
        self.rng = random.Random(seed)
        self.pending = sorted(trace, key=lambda m: m.start)
        self.active: dict[str, _Room] = {}
        self.events: list[tuple[float, int, int, object]] = []  # (epoch s, kind, seq, meeting)
        self.cursor = 0
        self._seq = 0
        self._quiet: tuple[float, float] | None = None  # (from, to) epoch s: an idle span skipped
        weights = runtime.settings.weights if runtime is not None else None
        # Overload is counted at REAL room size: Scalelite's young-room allowance places rooms, it costs
        # nothing (docs/contract.md "simulate --json").
        self.real_weights = at_real_size(weights) if weights else None
        providers = runtime.settings.providers.values() if runtime is not None else ()
        self.largest_server = max((p.capacity_units for p in providers), default=float("inf"))

    def _push(self, at: float, kind: int, payload) -> None:
        self._seq += 1
        heapq.heappush(self.events, (at, kind, self._seq, payload))

    def _pull_creates(self, until: datetime) -> None:
        while self.cursor < len(self.pending) and self.pending[self.cursor].start <= until:
            m = self.pending[self.cursor]
            self.cursor += 1
            at = m.start.timestamp()
            if m.start.second == 0 and m.start.microsecond == 0:
                at += self.rng.randrange(60)
            self._push(at, _CREATE, m)

    def _feed(self, now: datetime) -> None:
        """Everything due by `now`, in time order: creates, joins, ends, Scalelite's poll rounds and the
        guard's checks, each at its own second."""
        self._pull_creates(now)
        self._run_until(now.timestamp(), now)

    def _run_until(self, limit: float, now: datetime | None) -> None:
        """Events up to `limit` (epoch s); the guard's looks too unless `now` is None (inside a look)."""
        looks = now is not None
        world, guard, events = self.world, self.guard if looks else None, self.events
        while True:
            at = events[0][0] if events else math.inf
            poll = world.next_poll_event()
            poll_at = poll.timestamp() if poll is not None else math.inf
            look = guard.next_check(now) if guard is not None else None
            look_at = look.timestamp() if look is not None else math.inf
            quiet = self._quiet
            if quiet is not None:  # an idle span: no poll round starts and no look inside it
                if quiet[0] < look_at < quiet[1]:
                    look_at, look = quiet[1], datetime.fromtimestamp(quiet[1], tz=UTC)
                if quiet[0] < poll_at < quiet[1] and not world.round_in_flight:
                    poll_at, poll = quiet[1], datetime.fromtimestamp(quiet[1], tz=UTC)
            first = min(at, poll_at, look_at)
            if first > limit:
                return
            if poll_at == first:
                world.run_poller(poll)
            elif at == first:
                _, kind, _, payload = heapq.heappop(events)
                self._handle(at, kind, payload)
            else:
                assert look is not None  # first is look_at: the guard has a look due
                self._look(look)

    def _look(self, look: datetime) -> None:
        """One look of the guard at `look`; with a look cost, its calls take time (`_wait`)."""
        self.clock.set(look)
        self.world.account(look)
        cost = self.world.look_cost
        if cost is not None:
            cost.active = True
        try:
            self.guard.check(look)
        except Exception:  # noqa: BLE001 - counted: a failing look must not end the replay
            self.guard_errors += 1
        finally:
            if cost is not None:
                cost.active = False

    def _wait(self, seconds: float) -> None:
        """A guard's call takes `seconds`: the world's own events of that time happen meanwhile."""
        later = self.clock() + timedelta(seconds=seconds)
        self._pull_creates(later)
        self._run_until(later.timestamp(), None)
        self.clock.set(later)

    def _handle(self, at: float, kind: int, payload) -> None:
        world = self.world
        if kind == _CREATE:
            m = payload
            if m.end.timestamp() <= at or m.meeting_id in self.active:
                return
            moment = datetime.fromtimestamp(at, tz=UTC)
            server = world.create_meeting(m.meeting_id, moment, participants=1, moderators=1)
            if server is None:
                return  # rejected (counted by the world)
            with world.lock:  # the teacher's join: +1 on Scalelite's load after the create's own +1
                world.count_join(server)
            ramp = self.ramp * 60.0
            joins = sorted(
                (at + 1 + self.rng.random() * ramp for _ in range(m.participants - 1)), reverse=True
            )
            room = self.active[m.meeting_id] = _Room(m, joins)
            self._push(m.end.timestamp(), _END, m.meeting_id)
            if joins:
                self._push(joins.pop(), _JOIN, m.meeting_id)
            self._shape(room)
        elif kind == _JOIN:
            joining = self.active.get(payload)
            if joining is None:
                return
            if world.join_meeting(payload) is not None:
                joining.joined += 1
                self._shape(joining)
            if joining.joins:
                self._push(joining.joins.pop(), _JOIN, payload)
        else:
            if self.active.pop(payload, None) is not None:
                world.end_meeting(payload)

    def _shape(self, room: _Room) -> None:
        """Open mics, webcams and listen-only users in proportion of those who joined."""
        m = room.trace
        meeting = self.world.meetings.get(m.meeting_id)
        if meeting is None:
            return
        share = min(1.0, room.joined / max(m.participants, 1))
        meeting.voice = round(m.voice * share)
        meeting.video = round(m.video * share)
        meeting.listen_only = round(m.listen_only * share)

    def _skip(self, now: datetime, wake: datetime) -> None:
        """A jump over an idle span (no room, no event, no hourly server) of `QUIET_SPAN` or more (a
        weekend, a holiday): Scalelite's poll rounds and the guard's looks go on for `QUIET_MARGIN`
        after `now` and before `wake`, not in between. They find nothing there (no room, nothing to
        place): a trace with two meetings 30 days apart ran 41,769 poll rounds and 173,330 looks (the
        guard looks every half second around every class start of every idle day), 51 s; one 394 days
        apart, 566,656 rounds and over 5 minutes. The poller starts again at the span's end as
        Scalelite's does after a stall, the guard looks then. A night is no such span: skipping it
        moves the poll rounds' phase, and with it where each burst lands (a week's overload 115 →
        39 server-minutes), and saves 1 s a week."""
        begin, end = (now + QUIET_MARGIN).timestamp(), (wake - QUIET_MARGIN).timestamp()
        self._quiet = (begin, end) if wake - now >= QUIET_SPAN and end > begin else None

    def step(self, now: datetime, outcome: Outcome) -> TickReport | None:
        self._feed(now)
        self.clock.set(now)
        self.world.advance(now, settle=False)
        result = self.tick(now)
        if self.keep_ticks and result is not None:
            outcome.ticks.append(result)
        outcome.samples.append(self._sample(now, result))
        return result

    def _sample(self, now: datetime, result: TickReport | None) -> Sample:
        units, spread = self._server_units(now)
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
        overloaded_by: dict[str, int] = {}
        for name, (u, cap) in units.items():
            provider = provider_of(name)
            running[provider] = running.get(provider, 0) + 1
            if u > cap:
                overloaded_by[provider] = overloaded_by.get(provider, 0) + 1
        meetings = list(self.world.meetings.values())
        return Sample(
            now,
            sum(map(attrgetter("participants"), meetings)),
            len(meetings),
            sum(u for u, _ in units.values()),
            capacity,
            serving,
            running,
            dict(result.desired) if result is not None else {},
            sum(overloaded_by.values()),
            overloaded_by,
            spread,
        )

    def _server_units(self, now: datetime) -> tuple[dict[str, tuple[float, float]], float | None]:
        """({server: (load units, capacity)} of every powered-on server, the spreadable load: each room
        at most the largest server's capacity), each room costed at its real
        size (the young-room allowance is Scalelite's placement rule, not a cost; a week has ~4,000 ticks of ~2,000 rooms each: `room_costs` reads the counts straight
        off the world's records, nothing is remembered between ticks, so nothing can go stale)."""
        weights = self.real_weights
        assert weights is not None, "a replay costs rooms with the runtime's weights"
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
                return out, spreadable_units(costs, self.largest_server)
            # A room on a server no longer powered on (not expected: powering off ends its rooms): the walk.
            out = {name: (0.0, node.capacity_units) for name, node in world.nodes.items()}
            meetings = world.meetings.values()
            costs = room_costs(meetings, weights, now)
            for m, cost in zip(meetings, costs):
                units, capacity = out.get(m.server, (0.0, 0.0))
                out[m.server] = (units + cost, capacity)
            return out, spreadable_units(costs, self.largest_server)

    def run(
        self,
        start: datetime,
        end: datetime,
        every: timedelta = timedelta(minutes=1),
        on_step: Callable[[Sample, TickReport | None], None] | None = None,
        idle: Callable[[datetime], datetime | None] | None = None,
    ) -> Outcome:
        """Tick every `every` from start to end. `idle(now)` may return a later time to jump to when
        nothing can happen before it (nights of a week-long replay)."""
        outcome = Outcome()
        now = start
        while now <= end:
            wake = idle(now) if idle else None
            if wake is not None:
                wake = wake.replace(second=0, microsecond=0)
                self._skip(now, wake)
                now = wake
                continue
            result = self.step(now, outcome)
            sample = outcome.samples[-1]
            outcome.overloaded_server_minutes += sample.overloaded
            outcome.server_minutes += sum(sample.running.values())
            if on_step:
                on_step(sample, result)
            now += every
        self.world.account(now)
        outcome.rejected = self.world.rejected_meetings
        outcome.refused = self.world.refused_joins
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
