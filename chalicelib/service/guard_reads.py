"""What the burst guard keeps of its reads between looks, as named values: each room's cost, each
server's last read and projection, a timed figure (the total load, the forecast), and the small
calculations on them (chalicelib/service/guard.py reads, decides and acts with these).

A room's cost is remembered per room while the room is unchanged (a look re-reads a server at every
join, most of its rooms did not change): the memory is keyed by the room's identity in BBB (server,
meetingID, createTime) and holds only while the room's record is equal to the one it was computed from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.config import GuardSettings, LoadWeights
from chalicelib.domain.load import Meeting, meeting_units
from chalicelib.ports import BbbscaleError
from chalicelib.service.guard_polls import increments, poller_load, users_of
from chalicelib.service.service_ports import GuardPorts

MAX_CREATE_MS = 253_402_300_799_999  # 9999-12-31: a createTime past it is no time at all
MAX_REMEMBERED_ROOMS = 50_000


@dataclass(frozen=True, slots=True)
class RoomCost:
    """One room in load units: what it weighs now at its real size, what it is expected to weigh once
    filled, and until when it is filling; when it was created (epoch ms; both 0 when its create time is
    unknown)."""

    units: float
    expected: float
    filling_until_ms: float
    created_ms: int = 0


@dataclass(slots=True)
class ServerRead:
    """What the guard last read of one server: getServers' load and state when its rooms were read, the
    rooms' costs, its projection and until when that projection holds, when the rooms were read, and
    each room's participants (what Scalelite's joins counted)."""

    load: float | None
    state: str
    rooms: list[RoomCost]
    projected: float
    holds_until_ms: float
    read_ms: float
    users: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Timed:
    """A figure and when it was taken (the fleet's total load at a look, the forecast when asked)."""

    at: datetime
    value: float


def project(rooms: Iterable[RoomCost], now_ms: float) -> tuple[float, float]:
    """(projected units at `now_ms`, until when that figure holds): it changes when a room whose
    expected size is above its current one stops filling."""
    total, holds = 0.0, float("inf")
    for room in rooms:
        if now_ms < room.filling_until_ms and room.expected > room.units:
            total += room.expected
            holds = min(holds, room.filling_until_ms)
        else:
            total += room.units
    return total, holds


class RoomCosts:
    """Each room's cost, computed once per state of the room. `expected(meeting_id, created_ms)` is
    what the memory of room sizes expects of a room (chalicelib/domain/rooms.py)."""

    def __init__(
        self, weights: LoadWeights, fill_minutes: float, expected: Callable[[str, int], float]
    ) -> None:
        self._weights = weights
        self._fill_ms = fill_minutes * 60_000
        self._expected = expected
        self._known: dict[tuple[str | None, str, int], tuple[Meeting, RoomCost]] = {}

    def of(self, rooms: Iterable[Meeting]) -> list[RoomCost]:
        """The cost of each room that is not a breakout room."""
        if len(self._known) > MAX_REMEMBERED_ROOMS:
            self._known.clear()
        out = []
        for m in rooms:
            key = (m.server, m.meeting_id, m.create_time_ms)
            seen = self._known.get(key)
            if seen is not None and seen[0] == m:  # unchanged since its cost was computed
                out.append(seen[1])
                continue
            if m.is_breakout:
                continue
            cost = self._cost(m)
            self._known[key] = (m, cost)
            out.append(cost)
        return out

    def _cost(self, m: Meeting) -> RoomCost:
        units = meeting_units(m, self._weights, 0.0)
        created = m.create_time_ms if 0 < m.create_time_ms <= MAX_CREATE_MS else 0
        if not created:
            return RoomCost(units, units, 0.0)
        return RoomCost(units, self._expected(m.meeting_id, created), created + self._fill_ms, created)


class ServerReads:
    """The rooms the guard last read of each server (by Scalelite id), with their projection, and the
    poller's figure from them: re-read where getServers shows a change, or every
    `cordoned_read_seconds` for a server the guard holds cordoned (its reported load is frozen)."""

    def __init__(
        self,
        ports: GuardPorts,
        settings: GuardSettings,
        weights: LoadWeights,
        expected: Callable[[str, int], float],
    ) -> None:
        self.ports = ports
        self.settings = settings
        self.by_id: dict[str, ServerRead] = {}
        self.figures: dict[str, float] = {}  # the poller's load from the rooms last read
        self.unexplained: dict[str, float] = {}  # an enabled server's rise past its creates and joins
        self._ahead: dict[str, float] = {}  # joins its rooms showed before getServers' load did
        self.read_seconds = 0.0  # how long the last look's reads took (in parallel: the slowest one)
        self._costs = RoomCosts(weights, settings.fill_minutes, expected)
        self._last_look: datetime | None = None

    def clear(self) -> None:
        """Read every server afresh at the next look."""
        self.by_id.clear()

    def stale(self, servers, mine: set[str], now_ms: float, window: bool = False) -> list:
        """The servers whose rooms are to be read again: not read yet, load or state moved since, held
        cordoned by the guard (`mine`) and last read `cordoned_read_seconds` ago or more, or, around a
        class start (`window`), last read `window_read_seconds` ago or more (rooms that ended there
        moved nothing Scalelite reports)."""
        reread_ms = self.settings.cordoned_read_seconds * 1000
        aged_ms = self.settings.window_read_seconds * 1000 if window else float("inf")
        out = []
        for s in servers:
            if not s.online or s.state not in ("enabled", "cordoned"):
                continue
            known = self.by_id.get(s.id)
            if (
                known is None
                or known.load != s.load
                or known.state != s.state
                or (s.id in mine and now_ms - known.read_ms >= reread_ms)
                or now_ms - known.read_ms >= aged_ms
            ):
                out.append(s)
        return out

    def reread(self, now: datetime, stale) -> dict[str, float]:
        """Read the rooms of the `stale` servers afresh; returns by id the expected units of the rooms
        each took since the last look (as much may follow before the next)."""
        now_ms = now.timestamp() * 1000
        since = self._last_look or now - timedelta(seconds=self.settings.interval_seconds)
        recent = since.timestamp() * 1000 + self.settings.fill_minutes * 60_000  # filling until, if since
        self._last_look = now
        intake: dict[str, float] = {}
        self.unexplained = {}
        began = self.ports.clock()
        read = meetings_of(self.ports, stale)
        if stale:
            self.read_seconds = (self.ports.clock() - began).total_seconds()
        for server, rooms in read.items():
            costs = self._costs.of(rooms)
            users = users_of(rooms)
            before = self.by_id.get(server.id)
            if (
                before is not None
                and before.load is not None
                and server.load is not None
                and before.state == server.state == "enabled"
            ):
                # getServers' load is read before the rooms: joins in between are counted in the rooms
                # one look early (the excess falls below 0) and in the load at the next (rises past 0)
                rise = (server.load - before.load) / (server.load_multiplier or 1.0)
                excess = rise - increments(before.users, users) + self._ahead.get(server.id, 0.0)
                self.unexplained[server.id] = excess
                self._ahead[server.id] = min(0.0, excess)
            else:
                self._ahead.pop(server.id, None)
            self.by_id[server.id] = ServerRead(
                server.load, server.state, costs, *project(costs, now_ms), now_ms, users
            )
            intake[server.id] = sum(c.expected for c in costs if c.filling_until_ms > recent)
            self.figures[server.id] = poller_load(rooms, server.load_multiplier, now_ms)
        return intake

    def reproject(self, now_ms: float) -> bool:
        """Project again the servers where a room stopped filling; True when any did."""
        moved = False
        for known in self.by_id.values():
            if known.holds_until_ms <= now_ms:
                known.projected, known.holds_until_ms = project(known.rooms, now_ms)
                moved = True
        return moved


def draw(s, lowest: float | None, room_units: float) -> float:
    """The units a held server would draw at once if enabled: Scalelite puts it back at the load it had
    when cordoned (frozen since), below the others' by the burst's creates and joins; it takes every
    new room until it catches up, each adding ~2 (the create and its teacher's join)."""
    if s.state != "cordoned" or s.load is None or lowest is None or lowest <= s.load:
        return 0.0
    return (lowest - s.load) / (2 * (s.load_multiplier or 1.0)) * room_units


def since_change(entry: dict, now: datetime) -> tuple[float, float | None, float]:
    """(seconds since the guard last changed the server, when its cordon was sent in epoch ms while it
    holds it, seconds since it last cordoned it whether enabled again since or not), from its record in
    `guard_cordons`."""
    try:
        at = datetime.fromisoformat(entry["at"]) if entry.get("at") else None
        released = datetime.fromisoformat(entry["released"]) if entry.get("released") else None
    except (TypeError, ValueError):
        return float("inf"), None, float("inf")
    last = max((t for t in (at, released) if t is not None), default=None)
    since = (now - last).total_seconds() if last is not None else float("inf")
    cordoned = (now - at).total_seconds() if at is not None else float("inf")
    return since, (at.timestamp() * 1000 if at is not None and released is None else None), cordoned


def meetings_of(ports: GuardPorts, servers) -> dict:
    """Each server's own getMeetings: in parallel over HTTP, one after another in process. A server
    whose answer failed is left out (read again at the next look)."""
    if not servers:
        return {}
    if ports.parallel_checks:
        snapshot = ports.bbb.poll(servers)
        by_id: dict = {s.id: [] for s in servers}
        for m in snapshot.meetings:
            by_id.setdefault(m.server, []).append(m)
        failed = {p.split(":", 1)[0] for p in snapshot.problems}
        return {s: by_id.get(s.id, []) for s in servers if s.id not in failed}
    out = {}
    for s in servers:
        try:
            out[s] = list(ports.bbb.server(s.url, s.secret, s.id).meetings().meetings)
        except BbbscaleError:
            continue
    return out
