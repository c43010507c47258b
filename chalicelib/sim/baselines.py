"""The policies bbbscale is compared with in `simulate --policy` (CONTRACT.md "simulate --json").

Pure functions of a load figure and the providers' settings, returning desired servers per provider:
- `reactive`: DiViMS-style, keep capacity at twice the current load, no forecast, no timetable;
- `static`: the seed's manual plan, a fixed fleet sized for the trace's peak, on all day.
Both fill in the same order as bbbscale's configuration says (`fill_order`): static (owned) providers
first, always at their limit, then by priority, then the cheapest; each within [min_servers, limit].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from chalicelib.config import ProviderSettings


def fill_order(providers: Mapping[str, ProviderSettings]) -> list[str]:
    """Provider names in the order capacity is taken: static pools, then priority, then hourly cost."""
    return sorted(providers, key=lambda n: (providers[n].mode != "static", providers[n].priority,
                                            providers[n].hourly_cost, n))


@dataclass(frozen=True, slots=True)
class Fill:
    """Servers per provider for a capacity target, and the units that no allowed server could carry."""

    servers: dict[str, int]
    unmet_units: float


def fill(units: float, providers: Mapping[str, ProviderSettings]) -> Fill:
    """The fewest servers, in `fill_order`, whose capacity reaches `units`. Static providers always run
    their limit; the others run at least `min_servers` and at most their limit."""
    if units < 0 or math.isnan(units):
        raise ValueError(f"capacity target must be >= 0 load units, got {units}")
    servers: dict[str, int] = {}
    remaining = units
    for name in fill_order(providers):
        p = providers[name]
        low = p.limit if p.mode == "static" else min(p.min_servers, p.limit)
        remaining -= low * p.capacity_units
        servers[name] = low
    for name in fill_order(providers):
        if remaining <= 0:
            break
        p = providers[name]
        extra = min(p.limit - servers[name], math.ceil(remaining / p.capacity_units))
        servers[name] += extra
        remaining -= extra * p.capacity_units
    return Fill(servers, max(remaining, 0.0))


def reactive(units_now: float, providers: Mapping[str, ProviderSettings], factor: float = 2.0) -> dict[str, int]:
    """DiViMS-style reactive scaling: capacity for `factor` times the load measured now, nothing more.
    It reacts after the fact: an 08:00 surge finds the fleet sized for 07:59."""
    return fill(units_now * factor, providers).servers


def static(peak_units: float, providers: Mapping[str, ProviderSettings], headroom_percent: float = 0.0) -> dict[str, int]:
    """The seed's manual plan: one fleet sized for the trace's peak (plus `headroom_percent`), kept all
    day whatever the load. Without headroom it is the cheapest static plan that never overloads, the
    fairest one to compare with."""
    return fill(peak_units * (1 + headroom_percent / 100.0), providers).servers
