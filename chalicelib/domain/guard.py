"""The burst guard's decisions (pure): which servers to cordon so Scalelite cannot herd a burst onto them,
and which to enable again.

Why it exists. Between two polls Scalelite adds only +1 per create and per join to a server's load, and
places each new room on the lowest load (docs/scalelite-and-bbb.md "Scalelite"): a burst of creates at a class start
lands on the few servers that were lowest at the last poll, long before their pupils have joined. The
guard looks every few seconds, projects each server's load once its young rooms have filled (each room
at its expected size: what that room weighed before, else the slot's typical room, else the weights'
default room), and takes the servers heading past `threshold` of their capacity out of placement
(cordon: they keep every meeting, joins still work). It enables them again as soon as they have room,
and never leaves fewer enabled servers, or less spare room, than the burst still needs.

It only ever cordons or enables, through Scalelite's admin API; it never ends a meeting. It touches only
servers bbbscale means to serve (never one being drained) and enables only servers it cordoned itself.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardServer:
    """One server as the guard sees it: Scalelite's state, its capacity and its projected load."""

    id: str
    name: str
    state: str  # Scalelite: enabled | cordoned | disabled
    online: bool
    capacity: float  # load units at full load
    projected: float  # load units once its young rooms have filled
    rooms: int = 0
    guard_cordoned: bool = False  # in the guard's own record of the cordons it made
    meant_to_serve: bool = True  # bbbscale's record says serving (not draining, not an operator's)
    intake: float = 0.0  # expected units of the rooms it took since the last look (as much may follow)

    @property
    def ratio(self) -> float:
        return self.projected / self.capacity if self.capacity > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class GuardAction:
    """cordon | enable one server, with the reason people read in the history."""

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


def _pct(value: float) -> str:
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


def decide_guard(
    servers: Iterable[GuardServer],
    threshold: float,
    reopen_below: float,
    incoming_units: float = 0.0,
    min_enabled: int = 2,
    margin: float = 1.0,
    floor: float = 0.0,
) -> list[GuardAction]:
    """The cordons and enables for one look.

    The limit is `balance_limit` (with the default margin: `threshold` itself). Then:
    - enable every guard-cordoned server meant to serve whose projection fell below the reopening
      share (`reopen_below`, or 0.1 under the limit when that is lower); a server the poller turned
      disabled once empty is enabled the same way;
    - cordon enabled servers whose projection plus what they took since the last look (`intake`: as
      much again may come before the next) reaches the limit, fullest first, while the servers left
      enabled keep at least `min_enabled` members and `incoming_units` of spare room below the limit
      (what the burst still brings). When they cannot, guard-cordoned servers with spare room are
      enabled again, least loaded first, and servers still below their capacity stay enabled.
    """
    pool = [s for s in servers if s.online and s.meant_to_serve and s.capacity > 0]
    limit = balance_limit(pool, threshold, incoming_units, margin, floor)
    reopen = min(reopen_below, limit - 0.1)
    actions: list[GuardAction] = []
    enabled = [s for s in pool if s.state == "enabled"]
    held = sorted((s for s in pool if s.guard_cordoned and s.state != "enabled"), key=lambda s: s.ratio)
    for s in [s for s in held if s.ratio < reopen]:
        actions.append(
            GuardAction(
                "enable",
                s.id,
                s.name,
                f"{s.name} has room again: projected {s.projected:.0f}/{s.capacity:.0f} units "
                f"({_pct(s.ratio)}) below {_pct(reopen)}",
            )
        )
        enabled.append(s)
    held = [s for s in held if s.ratio >= reopen]

    def heading(s: GuardServer) -> float:
        return (s.projected + s.intake) / s.capacity

    def spare(group: Iterable[GuardServer]) -> float:
        return sum(max(0.0, limit * s.capacity - s.projected) for s in group)

    over = [s for s in enabled if heading(s) >= limit]
    staying = [s for s in enabled if heading(s) < limit]
    # Short of room for what is still coming: bring back held servers that still have some.
    room = spare(staying)
    for s in held:
        if room >= incoming_units:
            break
        if s.ratio < limit:
            room += max(0.0, limit * s.capacity - s.projected)
            actions.append(
                GuardAction(
                    "enable",
                    s.id,
                    s.name,
                    f"{s.name} enabled again: the burst still needs ~{incoming_units:.0f} units of room and "
                    f"it has some (projected {_pct(s.ratio)})",
                )
            )
            staying.append(s)
    short = room < incoming_units
    over.sort(key=heading)  # the least full are the ones worth keeping
    kept = max(0, min_enabled - len(staying))
    cordoned = over[kept:]
    if short:  # the burst needs more room than the rest has: servers below capacity stay enabled
        cordoned = [s for s in cordoned if s.ratio >= 1.0]
    for s in sorted(cordoned, key=lambda s: -heading(s)):
        again = " again (Scalelite's poll undid the cordon)" if s.guard_cordoned else ""
        taking = f", +{s.intake:.0f} taken since the last look" if s.intake else ""
        actions.append(
            GuardAction(
                "cordon",
                s.id,
                s.name,
                f"{s.name} projected at {s.projected:.0f}/{s.capacity:.0f} units ({_pct(s.ratio)}{taking}) "
                f"once its young rooms fill, past {_pct(limit)}: no new rooms until it has room{again}",
            )
        )
    return actions


@dataclass(frozen=True, slots=True)
class Spread:
    """How evenly a burst landed: rooms and load per server (mean and coefficient of variation)."""

    servers: int
    rooms_mean: float
    rooms_cv: float
    load_mean: float  # share of capacity
    load_cv: float
    overloaded: int

    def as_json(self) -> dict:
        return {
            "servers": self.servers,
            "rooms_mean": round(self.rooms_mean, 2),
            "rooms_cv": round(self.rooms_cv, 4),
            "load_mean": round(self.load_mean, 4),
            "load_cv": round(self.load_cv, 4),
            "overloaded": self.overloaded,
        }

    def describe(self) -> str:
        return (
            f"{self.servers} servers: {self.rooms_mean:.1f} rooms each (CV {_pct(self.rooms_cv)}), "
            f"load {_pct(self.load_mean)} of capacity (CV {_pct(self.load_cv)}), {self.overloaded} overloaded"
        )


def _cv(values: list[float]) -> float:
    mean = statistics.fmean(values) if values else 0.0
    return statistics.pstdev(values) / mean if mean > 0 and len(values) > 1 else 0.0


def spread(per_server: Iterable[tuple[int, float, float]]) -> Spread:
    """Spread over servers carrying rooms, from (rooms, load units at real size, capacity) each."""
    rows = [(r, u, c) for r, u, c in per_server if r > 0 and c > 0]
    rooms = [float(r) for r, _, _ in rows]
    loads = [u / c for _, u, c in rows]
    return Spread(
        len(rows),
        statistics.fmean(rooms) if rooms else 0.0,
        _cv(rooms),
        statistics.fmean(loads) if loads else 0.0,
        _cv(loads),
        sum(1 for x in loads if x > 1.0),
    )
