"""The oracle: the lower bound of docs/contract.md "simulate --json" that no scaler can beat.

For each billing period, the servers that the period's peak load needs at full packing: static
providers (always on, e.g. the owned pool) carry what they can for free, then the cheapest mix of the
others, found exactly (a small branch and bound, not a greedy fill, so that integer rounding cannot make
the "bound" beat a real allocation). Pure: the load series and the providers' settings are passed in.

Billing periods: clock-aligned periods of the finest billing granularity among the billed providers
(`hour` by default; `minute` and `second` both mean one sample, a minute). When granularities are mixed,
hourly servers are then costed pro rata per minute, which keeps the figure a lower bound (a looser one).
A billed period counts in full (hourly billing charges the whole hour); a static server counts the
minutes the series covers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.config import ProviderSettings

PERIOD_MINUTES = {"hour": 60, "minute": 1, "second": 1}
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class OracleResult:
    """The oracle's figures: `server_hours` (static servers included), `cost` (billed providers only),
    the most servers of any period, the periods even every allowed server could not carry, and
    server-hours per provider."""

    server_hours: float
    cost: float
    peak_servers: int
    unmet_periods: int
    by_provider: dict[str, float] = field(default_factory=dict)


def _billed(providers: Mapping[str, ProviderSettings]) -> list[tuple[str, ProviderSettings]]:
    """Providers that may change size, cheapest per load unit first (ties: more units per server)."""
    chosen = [(n, p) for n, p in providers.items() if p.mode != "static" and p.limit > 0]
    return sorted(
        chosen, key=lambda np: (np[1].hourly_cost / np[1].capacity_units, -np[1].capacity_units, np[0])
    )


def cheapest_servers(units: float, providers: Mapping[str, ProviderSettings]) -> dict[str, int] | None:
    """The cheapest servers of the non-static providers that carry `units` at full packing, each within
    [min_servers, limit]; among equally cheap mixes, the fewest servers. None when even every allowed
    server cannot carry it."""
    billed = _billed(providers)
    lows = [p.min_servers for _, p in billed]
    need = units - sum(p.capacity_units * low for (_, p), low in zip(billed, lows))
    if need > _EPS + sum(p.capacity_units * (p.limit - low) for (_, p), low in zip(billed, lows)):
        return None
    count = len(billed)

    room = [p.capacity_units * (p.limit - low) for (_, p), low in zip(billed, lows)]

    def relaxed(i: int, remaining: float) -> float:  # fractional fill: a lower bound on the rest's cost
        cost = 0.0
        for j in range(i, count):
            if remaining <= _EPS:
                break
            p = billed[j][1]
            take = min(remaining, room[j])
            cost += take / p.capacity_units * p.hourly_cost
            remaining -= take
        return cost

    best: list = [(math.inf, math.inf), None]
    extra = [0] * count

    def search(i: int, remaining: float, cost: float, servers: int) -> None:
        if remaining <= _EPS:
            if (cost, servers) < best[0]:
                best[0], best[1] = (cost, servers), list(extra)
            return
        if i == count:
            return
        p = billed[i][1]
        top = min(p.limit - lows[i], max(1, math.ceil(remaining / p.capacity_units - _EPS)))
        for n in range(top, -1, -1):
            rest = remaining - n * p.capacity_units
            bound = cost + n * p.hourly_cost + relaxed(i + 1, rest)
            if bound > best[0][0] + _EPS:
                if n == top:
                    continue  # `top` may overshoot the need by most of a server; n < top never does
                break  # below `top`, fewer of the cheapest per unit only raises the bound
            extra[i] = n
            search(i + 1, rest, cost + n * p.hourly_cost, servers + n)
        extra[i] = 0

    search(0, max(need, 0.0), 0.0, 0)
    return {name: low + n for (name, _), low, n in zip(billed, lows, best[1])}


def _period_minutes(providers: Mapping[str, ProviderSettings]) -> int:
    billed = [p for p in providers.values() if p.mode != "static"]
    return min((PERIOD_MINUTES[p.billing] for p in billed), default=60)


def oracle(
    series: Iterable[tuple[datetime, float]],
    providers: Mapping[str, ProviderSettings],
    step_minutes: float = 1.0,
) -> OracleResult:
    """The oracle's server-hours and cost for a load series of (time, load units) samples taken every
    `step_minutes`. Times must carry a UTC offset; periods are aligned on UTC clock minutes/hours."""
    period = _period_minutes(providers)
    peaks: dict[int, float] = {}
    samples = 0
    for at, units in series:
        if at.utcoffset() is None:
            raise ValueError(f"series time must carry a UTC offset, got naive {at.isoformat()}")
        key = int(at.timestamp() // 60) // period
        peaks[key] = max(peaks.get(key, 0.0), float(units))
        samples += 1
    static = {n: p for n, p in providers.items() if p.mode == "static"}
    static_units = sum(p.limit * p.capacity_units for p in static.values())
    covered_hours = samples * step_minutes / 60.0
    by_provider = {n: p.limit * covered_hours for n, p in static.items()}
    cost, unmet, peak_servers = 0.0, 0, 0
    period_hours = period / 60.0
    memo: dict[float, dict[str, int] | None] = {}
    for peak in peaks.values():
        need = max(peak - static_units, 0.0)
        if need not in memo:
            memo[need] = cheapest_servers(need, providers)
        servers = memo[need]
        if servers is None:
            unmet += 1
            servers = {n: p.limit for n, p in providers.items() if p.mode != "static"}
        peak_servers = max(peak_servers, sum(servers.values()) + sum(p.limit for p in static.values()))
        for name, n in servers.items():
            by_provider[name] = by_provider.get(name, 0.0) + n * period_hours
            cost += n * providers[name].hourly_cost * period_hours
    return OracleResult(
        server_hours=round(sum(by_provider.values()), 6),
        cost=round(cost, 6),
        peak_servers=peak_servers,
        unmet_periods=unmet,
        by_provider={n: round(h, 6) for n, h in by_provider.items()},
    )
