"""What a replay's picture and summary show of each simulated minute beyond the replay's own `Sample`:
the need with headroom the tick computed, and the capacity of the servers Scalelite holds out of
placement, told apart by why (the burst guard's cordons, drains).

Why apart: Scalelite's "enabled" capacity dives at every class start while the guard cordons the
servers heading past their share, though those servers go on serving their rooms and come back within
minutes; subtracting them reads as capacity collapsing at the peak. The picture draws them on top of
the enabled capacity instead, in their own colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Minute:
    """One minute's extra figures, in load units (capacity at each server's `capacity_units`)."""

    at: datetime
    needed_units: float  # max(load, forecast, reservations) + headroom, as the tick decided it
    guard_units: float  # cordoned by the burst guard: still serving, back within minutes
    draining_units: float  # cordoned to drain (scale-in, replacement, operator)
    hottest: tuple[str, float, float, int] | None = None  # (server, load, capacity, rooms) past capacity


def minute_of(at: datetime, world, store, result, weights=None, overloaded: int = 0) -> Minute:
    """Read the world's Scalelite registry and the guard's record of its cordons at `at`; when a server
    is overloaded (`overloaded` > 0, `weights`: rooms at real size), which one is the most."""
    held = store.guard_ledger.cordons()
    guard = draining = 0.0
    with world.lock:
        for entry in list(world.registry.values()):
            if entry.state != "cordoned" or not entry.online:
                continue
            node = world.node_for_url(entry.url)
            if node is None:
                continue
            if entry.id in held:
                guard += node.capacity_units
            else:
                draining += node.capacity_units
    needed = float(getattr(result, "needed_units", 0.0) or 0.0) if result is not None else 0.0
    return Minute(at, needed, guard, draining, _hottest(world, weights) if overloaded and weights else None)


def _hottest(world, weights) -> tuple[str, float, float, int] | None:
    """The server furthest past its capacity, rooms costed at their real size."""
    from chalicelib.domain.load import room_costs

    worst = None
    with world.lock:
        for name, node in world.nodes.items():
            rooms = [m for m in world.on_server.get(name, {}).values() if not m.is_breakout]
            units = sum(room_costs(rooms, weights, 0.0))
            if units > node.capacity_units and (
                worst is None or units / node.capacity_units > worst[1] / worst[2]
            ):
                worst = (name, units, node.capacity_units, len(rooms))
    return worst


def overload_spells(samples, minutes=(), longest: int = 5) -> list[dict]:
    """The spells of more than `longest` consecutive minutes with an overloaded server while the serving
    capacity (enabled, plus the guard's cordons; `minutes` aligned with `samples`) was above the load:
    first and last minute, the most servers overloaded at once, and the hottest server seen."""
    guard = {m.at: m.guard_units for m in minutes}
    hottest = {m.at: m.hottest for m in minutes if m.hottest}
    spells, run = [], []
    for sample in [*samples, None]:
        if sample is not None and sample.overloaded:
            if sample.capacity_units + guard.get(sample.at, 0.0) > sample.load_units:
                run.append(sample)
                continue
        if len(run) > longest:
            seen = [hottest[s.at] for s in run if s.at in hottest]
            worst = max(seen, key=lambda h: h[1] / h[2]) if seen else None
            spells.append(
                {
                    "from": run[0].at,
                    "to": run[-1].at,
                    "servers": max(s.overloaded for s in run),
                    "hottest": worst,
                }
            )
        run = []
    return spells
