"""What the burst guard sees and says (pure values): a server as the guard sees it, one of its actions,
a server's projected load and the share past which the guard takes a server out of placement.
`chalicelib/domain/guard.py` decides with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardServer:
    """One server as the guard sees it: Scalelite's state, its capacity and its projected load."""

    id: str
    name: str
    state: str  # what Scalelite reports: enabled | cordoned | disabled
    online: bool
    capacity: float  # load units at full load
    projected: float  # load units once its young rooms have filled
    rooms: int = 0
    guard_cordoned: bool = (
        False  # the guard set its present state (cordoned, or disabled by the poller once empty)
    )
    meant_to_serve: bool = True  # bbbscale's record says serving (not draining, not an operator's)
    intake: float = 0.0  # expected units of the rooms it took since the last look (as much may follow)
    has_load: bool = True  # Scalelite reports a numeric load (not "unavailable")
    since_change: float = float("inf")  # seconds since the guard last changed its state
    leaked_rooms: int = 0  # rooms created on it after the guard's cordon: a poll undid the cordon
    undone: str = ""  # what was seen of a poll round that may have undone its cordon (no room yet)
    draw: float = 0.0  # units it would draw at once if enabled: its frozen load is Scalelite's lowest
    cordon_age: float = float("inf")  # seconds since the guard last cordoned it (enabled again since or not)

    @property
    def ratio(self) -> float:
        return self.projected / self.capacity if self.capacity > 0 else float("inf")

    @property
    def placeable(self) -> bool:
        """Scalelite can place a room on it now: enabled and in its placement set (a numeric load)."""
        return self.online and self.state == "enabled" and self.has_load


@dataclass(frozen=True, slots=True)
class GuardAction:
    """cordon | enable | recordon (enable then cordon: repairs a cordon a poll undid) one server, with
    the reason people read in the history."""

    action: str
    server_id: str
    name: str
    reason: str

    def as_json(self) -> dict:
        return {
            "action": self.action,
            "server_id": self.server_id,
            "server": self.name,
            "reason": self.reason,
        }


def projected_units(rooms: Iterable[tuple[float, float, bool]]) -> float:
    """A server's load once filled: each (current units, expected units, still filling) room counts at
    the larger of what it costs now and what it is expected to cost, once it is no longer filling at
    what it costs."""
    return sum(max(now, expected) if filling else now for now, expected, filling in rooms)


def pct(value: float) -> str:
    """A share as people read it: 0.9 -> "90 %"."""
    return f"{100 * value:.0f} %"


def balance_limit(
    pool: list[GuardServer], threshold: float, incoming_units: float, margin: float, floor: float
) -> float:
    """The share of capacity past which a server is taken out of placement: a little above what the
    whole pool will carry once the burst is in (so the burst ends spread evenly), never above
    `threshold`, never below `floor` (no churn while the fleet is quiet)."""
    capacity = sum(s.capacity for s in pool)
    if capacity <= 0:
        return threshold
    final = (sum(s.projected for s in pool) + incoming_units) / capacity
    return min(threshold, max(floor, final + margin))
