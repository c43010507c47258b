"""The simulated BBB world: BBB servers, the meetings pinned to them, and power.

Pure in-memory and thread-safe (one re-entrant lock). Time is always passed in (`now`, timezone-aware)
and randomness comes from the seeded `random.Random` given at construction, so a replay is repeatable.
Scalelite's view of these servers (registry, placement, poller) lives in `ScaleliteModel`
(bbbsim/scalelite_model.py), which `SimWorld` extends; the HTTP Scalelite, the direct adapters
and the simulated cloud all drive this one object.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from bbbsim.nodes import COUNTS as COUNTS
from bbbsim.nodes import BbbNode as BbbNode
from bbbsim.nodes import SimMeeting as SimMeeting
from bbbsim.nodes import name_in_url
from bbbsim.scalelite_model import ScaleliteModel
from chalicelib.domain.load import Meeting


class NodeUnavailable(Exception):
    """A BBB server did not answer properly: kind "down" (no answer) or "error" (HTTP 500, garbage)."""

    def __init__(self, name: str, kind: str):
        super().__init__(
            f"BBB server {name} is {'not answering' if kind == 'down' else 'failing (HTTP 500)'}"
        )
        self.name = name
        self.kind = kind


class SimWorld(ScaleliteModel):
    """Servers, meetings, power and Scalelite's view of them; counters for what went wrong.

    Killed meetings (a server stopped, panicked, or dropped by Scalelite with meetings on it) and
    rejected meetings (no server available) are what a scaler must never cause."""

    def __init__(
        self, rng: random.Random | None = None, poll_interval_s: float = 60.0, poll_phase_s: float = 0.0
    ):
        super().__init__(rng or random.Random(0), poll_interval_s, poll_phase_s)
        self.nodes: dict[str, BbbNode] = {}
        self.meetings: dict[str, SimMeeting] = {}
        self.on_server: dict[str, dict[str, SimMeeting]] = {}  # index: server -> its meetings
        self.killed: list[tuple[str, str, str]] = []
        self.rejections: list[tuple[str, datetime]] = []
        self.url_for: Callable[[str], str] = lambda name: f"sim://{name}"
        self.provider_records: dict[str, dict] = {}  # per simulated-cloud provider, survives re-construction
        self._tickers: dict[str, Callable[[datetime], None]] = {}

    # --- BBB servers and power ------------------------------------------------------------------------
    def add_bbb_server(
        self,
        name: str,
        secret: str,
        capacity_units: float,
        now: datetime,
        answering: bool = True,
        host: str | None = None,
    ) -> BbbNode:
        """Power on a BBB server (idempotent by name: an existing one is returned unchanged)."""
        with self.lock:
            if name not in self.nodes:
                self.nodes[name] = BbbNode(
                    name, host or f"{name}.sim.invalid", secret, capacity_units, now, answering
                )
            return self.nodes[name]

    def set_answering(self, name: str, answering: bool) -> None:
        with self.lock:
            self._node(name).answering = answering

    def set_fault(self, name: str, api_error: bool | None = None, offline: bool | None = None) -> None:
        """Inject or clear a fault on one BBB server."""
        with self.lock:
            node = self._node(name)
            if api_error is not None:
                node.api_error = api_error
            if offline is not None:
                node.offline = offline

    def set_recordings_pending(self, name: str, count: int) -> None:
        """How many recordings the server is still processing (a reason not to switch it off)."""
        with self.lock:
            self._node(name).recordings_pending = max(0, int(count))

    def power_off(self, name: str, reason: str = "stopped with meetings") -> list[str]:
        """Remove a BBB server; meetings still on it are killed and counted. Returns their ids."""
        with self.lock:
            if self.nodes.pop(name, None) is None:
                return []
            return self._kill_on(name, reason)

    def node(self, name: str) -> BbbNode | None:
        """A copy of one BBB server's state, or None if it is not powered on."""
        with self.lock:
            node = self.nodes.get(name)
            return replace(node) if node else None

    def _node(self, name: str) -> BbbNode:
        node = self.nodes.get(name)
        if node is None:
            raise KeyError(f"no BBB server named {name!r}")
        return node

    def node_for_url(self, url: str) -> BbbNode | None:
        return self.nodes.get(name_in_url(url) or "")

    # --- meetings -------------------------------------------------------------------------------------
    def create_meeting(
        self,
        meeting_id: str,
        now: datetime,
        participants: int = 0,
        moderators: int = 0,
        voice: int = 0,
        video: int = 0,
        listen_only: int = 0,
        name: str = "",
        is_breakout: bool = False,
        parent_id: str | None = None,
        metadata: dict[str, str] | None = None,
        server_tag: str | None = None,
        server: str | None = None,
    ) -> str | None:
        """Create a meeting as Scalelite's `create` would; returns the server it landed on, or None when
        no server could take it (counted as rejected). An existing id stays on its server. Breakout
        rooms are created by BBB itself beside their parent, not through Scalelite. `server` pins the
        meeting to a BBB server directly, bypassing Scalelite (test setup, scenario seeding)."""
        with self.lock:
            existing = self.meetings.get(meeting_id)
            if existing is not None:
                return existing.server
            if is_breakout:
                parent = self.meetings.get(parent_id or "")
                if parent is None:
                    self.rejections.append((meeting_id, now))
                    return None
                server = parent.server
                sequence = 1 + sum(1 for m in self._on(server) if m.parent_id == parent.meeting_id)
            else:
                if server is None:
                    server = self.place(server_tag, meeting_id)
                elif server not in self.nodes:
                    raise KeyError(f"no BBB server named {server!r}")
                sequence = 0
                if server is None:
                    self.rejections.append((meeting_id, now))
                    return None
            meeting = SimMeeting(
                meeting_id,
                server,
                now,
                name or meeting_id,
                participants,
                moderators,
                voice,
                video,
                listen_only,
                is_breakout,
                parent_id,
                sequence,
                str(70000 + self.rng.randrange(30000)),
                dict(metadata or {}),
            )
            self.meetings[meeting_id] = meeting
            self.on_server.setdefault(server, {})[meeting_id] = meeting
            self.pinned.pop(meeting_id, None)
            return server

    def resize_meeting(self, meeting_id: str, **counts: int) -> None:
        """Change a meeting's counts (participants, moderators, voice, video, listen_only)."""
        unknown = counts.keys() - COUNTS
        if unknown:
            raise ValueError(f"unknown meeting counts: {sorted(unknown)}")
        with self.lock:
            meeting = self.meetings.get(meeting_id)
            if meeting is None:
                raise KeyError(f"no meeting {meeting_id!r}")
            for key, value in counts.items():
                setattr(meeting, key, max(0, int(value)))

    def join_meeting(self, meeting_id: str, moderator: bool = False, users: int = 1) -> str | None:
        """`users` more users in a running meeting (each an HTTP `join`); returns its server, or None
        when Scalelite refuses the join (the meeting's server is disabled or offline: counted)."""
        with self.lock:
            meeting = self.meetings.get(meeting_id)
            if meeting is None:
                raise KeyError(f"no meeting {meeting_id!r}")
            if self.refuses_joins(meeting.server):
                self.refused.extend([(meeting_id, meeting.server)] * users)
                return None
            meeting.participants += users
            meeting.moderators += users if moderator else 0
            self.count_join(meeting.server, users)
            return meeting.server

    def end_meeting(self, meeting_id: str) -> bool:
        """End a meeting normally, with its breakout rooms (BBB ends them with the parent)."""
        with self.lock:
            meeting = self._remove(meeting_id)
            if meeting is None:
                return False
            for child in [m.meeting_id for m in self._on(meeting.server) if m.parent_id == meeting_id]:
                self._remove(child)
            return True

    def _on(self, server: str) -> list[SimMeeting]:
        return list(self.on_server.get(server, {}).values())

    def _remove(self, meeting_id: str) -> SimMeeting | None:
        meeting = self.meetings.pop(meeting_id, None)
        if meeting is not None:
            self.on_server.get(meeting.server, {}).pop(meeting_id, None)
        return meeting

    def _kill_on(self, server: str, reason: str) -> list[str]:
        victims = [m.meeting_id for m in self._on(server)]
        for meeting_id in victims:
            self._remove(meeting_id)
            self.killed.append((meeting_id, server, reason))
        return victims

    # --- reading --------------------------------------------------------------------------------------
    def meetings_of(self, server: str) -> list[Meeting]:
        """The meetings on one BBB server, as domain meetings (server set)."""
        with self.lock:
            return [m.as_meeting() for m in self._on(server)]

    def sim_meetings_of(self, server: str) -> list[SimMeeting]:
        with self.lock:
            return [replace(m, metadata=dict(m.metadata)) for m in self._on(server)]

    def node_meetings(self, name: str) -> list[SimMeeting]:
        """What the BBB server's own getMeetings returns; raises NodeUnavailable when it cannot answer."""
        with self.lock:
            self._answering(name)
            return self.sim_meetings_of(name)

    def node_load(self, name: str) -> list[Meeting]:
        """The same answer as domain meetings (server set), without copying the world's records."""
        with self.lock:
            self._answering(name)
            return [m.as_meeting() for m in self.on_server.get(name, {}).values()]

    def _answering(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is None or not node.reachable:
            raise NodeUnavailable(name, "down")
        if node.api_error:
            raise NodeUnavailable(name, "error")

    @property
    def refused_joins(self) -> int:
        """Joins Scalelite refused (the meeting's server disabled or offline): must stay 0."""
        return len(self.refused)

    @property
    def rejected_meetings(self) -> int:
        return len(self.rejections)

    @property
    def killed_meetings(self) -> list[tuple[str, str, str]]:
        """(meeting_id, server, reason) of every meeting ended against its users' will."""
        with self.lock:
            return list(self.killed)

    def server_units(self, cost: Callable[[Meeting], float]) -> dict[str, tuple[float, float]]:
        """{server: (load units by `cost`, capacity units)} for every powered-on BBB server."""
        with self.lock:
            out = {name: (0.0, node.capacity_units) for name, node in self.nodes.items()}
            for meeting in self.meetings.values():
                units, capacity = out.get(meeting.server, (0.0, 0.0))
                out[meeting.server] = (units + cost(meeting.as_meeting()), capacity)
            return out

    def overloaded(self, cost: Callable[[Meeting], float]) -> list[str]:
        """Servers whose meetings cost more than their capacity."""
        return sorted(name for name, (units, cap) in self.server_units(cost).items() if units > cap)

    # --- time -----------------------------------------------------------------------------------------
    def on_advance(self, key: str, ticker: Callable[[datetime], None]) -> None:
        """Register (or replace, by key) something to run on each `advance`, e.g. a cloud's boots."""
        with self.lock:
            self._tickers[key] = ticker

    def advance(self, now: datetime, settle: bool = True) -> None:
        """Move the world to `now`: finish due boots, then run what Scalelite's poller has due. With
        `settle` (callers that move in whole steps: the demo, `run`, tests) a round that started by `now`
        is saved at once, as if they had waited the fraction of a second it takes; the replay, which
        feeds every second in order, passes False."""
        with self.lock:
            tickers = list(self._tickers.values())
        for ticker in tickers:
            ticker(now)
        self.run_poller(now)
        if settle:
            with self.lock:
                if self._round is not None and self._round_ends is not None:
                    self.run_poller(self._round_ends)
