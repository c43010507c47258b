"""The plain frozen data a tick decides on, and what it decides. No I/O here.

`Observation` is everything the observe step gathered; `decide()` (planner.py) turns it into a `Decision`:
the desired servers per provider and a list of `Action`s, each with a human reason. The actuator carries
the actions out; `--dry-run` prints them instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.dns import DnsChange, DnsRecord
from chalicelib.domain.fleet import VM, Fleet, ScaleliteServer
from chalicelib.domain.kinds import HoldKind
from chalicelib.domain.load import LoadSnapshot
from chalicelib.domain.overrides import Overrides
from chalicelib.domain.policy import Allocation

#: Action names of docs/contract.md (`tick --json`).
ACTIONS = ("start", "register", "enable", "cordon", "uncordon", "recordon", "stop", "replace", "hold")


@dataclass(frozen=True, slots=True)
class Action:
    """One thing to do. `server` names an existing server; `count` is for `start`. `key` identifies the
    decision so that a retried or concurrent tick never carries the same one out twice. A `hold` carries
    its kind in `hold`."""

    action: str
    provider: str
    reason: str
    count: int | None = None
    server: str | None = None
    key: str = ""
    hold: HoldKind | None = None

    def as_json(self) -> dict:
        out: dict[str, str | int] = {"action": self.action, "provider": self.provider, "reason": self.reason}
        if self.count is not None:
            out["count"] = self.count
        if self.server is not None:
            out["server"] = self.server
        return out


@dataclass(frozen=True, slots=True)
class ServerCheck:
    """What a server itself said this tick (None: not asked or no answer)."""

    healthy: bool | None = None
    meetings: int | None = None
    recordings_pending: int | None = None
    problem: str | None = None
    newest_room_ms: int | None = None  # the createTime of its newest room (not a breakout), when asked


@dataclass(frozen=True, slots=True)
class Demand:
    """Capacity asked for besides the measured load, each with its reason."""

    forecast_units: float = 0.0
    forecast_reason: str = ""
    reserved_units: float = 0.0
    reserved_reason: str = ""


@dataclass(frozen=True)
class Observation:
    """One tick's inputs. `snapshot` is None when no load could be read at all; `scalelite` is None when
    Scalelite's server list could not be read. Either makes the tick hold any scale-down."""

    now: datetime
    fleet: Fleet
    snapshot: LoadSnapshot | None
    scalelite: dict[str, ScaleliteServer] | None  # by server URL
    checks: dict[str, ServerCheck] = field(default_factory=dict)  # by server name
    overrides: Overrides = field(default_factory=Overrides)
    demand: Demand = field(default_factory=Demand)
    recent_desired: tuple[tuple[datetime, dict[str, int]], ...] = ()
    backoff: dict[str, datetime] = field(default_factory=dict)  # provider -> backing off until
    unreachable_providers: frozenset[str] = frozenset()  # provider list() failed this tick
    problems: tuple[str, ...] = ()
    vms: dict[str, list[VM] | None] = field(
        default_factory=dict
    )  # as each provider listed them (None: failed)
    dns_records: tuple[DnsRecord, ...] | None = None  # this cluster's records; None: no [dns] or unreadable
    # URLs Scalelite can place a room on now (enabled, with a load); None: unknown. The tick never
    # cordons the last of them (a guard cordon held by a live guard counts as capacity, not as placeable)
    placeable: frozenset[str] | None = None
    # Young rooms (younger than `young_room_minutes`) whose own past sessions say what they weigh once
    # filled, in load units at real size, by meeting ID (domain/rooms.RoomSizes, source "room"): the need
    # counts them at that size instead of Scalelite's allowance of `young_room_participants` users
    known_rooms: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The outcome of `decide`: desired servers per provider, the load figure used, and the actions."""

    allocation: Allocation
    load_units: float | None
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    dns: tuple[DnsChange, ...] = ()  # record changes (domain/dns.py), carried out after the actions
    # the load more servers can relieve (each room at most one server): what the forecast learns, so that
    # one oversized room does not lift today's trend and every later forecast (None: as load_units)
    spread_units: float | None = None

    @property
    def learned_units(self) -> float | None:
        return self.spread_units if self.spread_units is not None else self.load_units

    @property
    def desired(self) -> dict[str, int]:
        return dict(self.allocation.servers)
