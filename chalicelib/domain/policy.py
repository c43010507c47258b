"""The policy: how many servers each provider should run for a given need. Pure arithmetic.

Order of filling (the seed's practice): fixed minimums first (owned always-on pool, `min_servers`,
operator floors), then providers by (priority, hourly cost), each within its quota and max. What no
provider can supply is reported as `unmet_servers`, never silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chalicelib.config import Headroom, ProviderSettings


@dataclass(frozen=True, slots=True)
class Allocation:
    """Desired servers per provider, what could not be placed, and why."""

    servers: dict[str, int]
    needed_units: float
    unmet_servers: int = 0
    unmet_units: float = 0.0
    reasons: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(self.servers.values())

    def hourly_cost(self, providers: dict[str, ProviderSettings]) -> float:
        return sum(n * providers[p].hourly_cost for p, n in self.servers.items())


def with_headroom(units: float, headroom: Headroom) -> float:
    """Units to provision for a load: the load plus max(percent of it, an absolute margin)."""
    if units <= 0:
        return headroom.units
    return units + max(units * headroom.percent / 100.0, headroom.units)


def fill_order(providers: dict[str, ProviderSettings]) -> list[str]:
    """Providers in the order they take demand: priority, then hourly cost, then name."""
    return sorted(providers, key=lambda p: (providers[p].priority, providers[p].hourly_cost, p))


def allocate(
    needed_units: float,
    providers: dict[str, ProviderSettings],
    floors: dict[str, int] | None = None,
    caps: dict[str, int] | None = None,
) -> Allocation:
    """Spread `needed_units` (headroom already included) over the providers.

    `floors` raise a provider's minimum (operator floors); `caps` lower what a provider may take this
    time (a provider in backoff is capped at what it already runs, so the next one takes the demand).
    Every cap and floor applied adds a reason, so the decision explains itself.
    """
    floors = floors or {}
    caps = caps or {}
    reasons: list[str] = []
    servers: dict[str, int] = {}
    limit: dict[str, int] = {}
    order = fill_order(providers)
    for name in order:
        p = providers[name]
        limit[name] = p.limit
        if name in caps and caps[name] < p.limit:
            limit[name] = max(caps[name], 0)
            reasons.append(f"{name}: capped at {limit[name]} (backing off after failures)")
        base = p.min_servers if p.mode != "static" else max(p.min_servers, min(p.max_servers, p.quota))
        if p.mode != "static" and base > 0:  # a static pool runs whole anyway; a hoster's minimum is a choice
            reasons.append(f"{name}: min_servers {base} (configured)")
        floor = floors.get(name, 0)
        if floor > base:
            reasons.append(f"{name}: operator floor {floor}")
            base = floor
        if base > limit[name]:
            reasons.append(f"{name}: minimum {base} capped from {base} to {limit[name]} by quota/max")
            base = limit[name]
        servers[name] = base

    remaining = needed_units - sum(servers[n] * providers[n].capacity_units for n in order)
    for name in order:
        if remaining <= 0:
            break
        p = providers[name]
        room = limit[name] - servers[name]
        if room <= 0:
            continue
        want = math.ceil(remaining / p.capacity_units - 1e-9)
        take = min(want, room)
        if take < want:
            reasons.append(
                f"{name}: {servers[name] + want} wanted, capped to {servers[name] + take} by quota/max"
            )
        servers[name] += take
        remaining -= take * p.capacity_units

    unmet_units = max(remaining, 0.0)
    unmet = 0
    if unmet_units > 0:
        reference = providers[order[-1]].capacity_units
        unmet = math.ceil(unmet_units / reference - 1e-9)
        reasons.append(f"quotas cannot supply {unmet} more servers ({unmet_units:,.0f} load units)")
    return Allocation(
        servers=servers,
        needed_units=needed_units,
        unmet_servers=unmet,
        unmet_units=unmet_units,
        reasons=tuple(reasons),
    )


def plan_report(
    users: int, units: float, allocation: Allocation, providers: dict[str, ProviderSettings], currency: str
) -> dict:
    """The `plan --json` document of docs/contract.md."""
    return {
        "users": users,
        "load_units": round(units, 1),
        "servers": dict(allocation.servers),
        "total_servers": allocation.total,
        "unmet_servers": allocation.unmet_servers,
        "hourly_cost": round(allocation.hourly_cost(providers), 2),
        "currency": currency,
        "needed_units": round(allocation.needed_units, 1),
        "reasons": list(allocation.reasons),
    }
