"""Operator overrides that change decisions: freeze, floors and drain requests.

They live in the state store's settings (key -> JSON) so chat commands, the CLI and the tick share them.
Pure: these functions read and write plain dicts; the store does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

FREEZE = "freeze"  # {"until": iso | None, "by": user, "reason": str}
FLOORS = "floors"  # {provider: {"servers": n, "until": iso | None, "by": user}}
DRAIN = "drain_requests"  # {server_name: {"by": user, "at": iso}}
#: Every key the settings store takes: what the services keep between ticks has its own state ports.
OPERATOR_SETTINGS = frozenset({FREEZE, FLOORS, DRAIN})


@dataclass(frozen=True, slots=True)
class Freeze:
    until: datetime | None  # None: until unfrozen
    by: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Floor:
    provider: str
    servers: int
    until: datetime | None
    by: str


@dataclass(frozen=True, slots=True)
class Overrides:
    """What operators asked for, as in force at `now` (expired entries are dropped by `active`)."""

    freeze: Freeze | None = None
    floors: tuple[Floor, ...] = ()
    drain: frozenset[str] = field(default_factory=frozenset)

    def floor_for(self, provider: str) -> int:
        return max((f.servers for f in self.floors if f.provider == provider), default=0)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def read_overrides(settings_get, now: datetime) -> Overrides:
    """Build the overrides in force at `now` from a settings getter (key, default) -> JSON value."""
    freeze = None
    raw = settings_get(FREEZE, None)
    if raw:
        until = _when(raw.get("until"))
        if until is None or until > now:
            freeze = Freeze(until=until, by=raw.get("by", "?"), reason=raw.get("reason", ""))
    floors = []
    for provider, entry in (settings_get(FLOORS, None) or {}).items():
        until = _when(entry.get("until"))
        if until is None or until > now:
            floors.append(Floor(provider, int(entry["servers"]), until, entry.get("by", "?")))
    drain = frozenset((settings_get(DRAIN, None) or {}).keys())
    return Overrides(freeze=freeze, floors=tuple(floors), drain=drain)
