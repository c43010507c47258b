"""How evenly a burst landed on the servers: rooms and load per server, as the burst guard's history and
the benches measure it (the issue's rooms CV).

A class change spread evenly leaves every server with about the same number of new rooms; Scalelite's
placement on stale loads herds them onto a few (docs/herding.md). The coefficient of variation (CV) of
rooms per server is the measure the guard is judged by, load CV its companion.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


def _pct(value: float) -> str:
    return f"{100 * value:.0f} %"


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
