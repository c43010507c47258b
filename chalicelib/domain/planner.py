"""decide(): observation in, desired servers and actions out. Pure — the heart of a tick.

The units to provision (load, forecast or reservations, plus headroom), allocated over the providers
(owned pool first, then hourly hosters by cost, within quotas); then per provider
(chalicelib/domain/provider_plan.py): first move single servers along their lifecycle (register,
enable, replace, stop when drained), then compare the desired count with the active servers: scale up
by uncordoning draining ones before starting new ones (capped by the surge per tick), scale down only
after the desired count has stayed below the fleet for the stabilization window and only on a complete
observation, choosing victims by `lifecycle.victim_order`. Never the last placeable server cordoned.
Every action carries its reason.
"""

from __future__ import annotations

from dataclasses import replace

from chalicelib.config import Settings
from chalicelib.domain.decision import Action, Decision, Observation
from chalicelib.domain.dns import DnsChange, Naming, dns_changes
from chalicelib.domain.fleet import ServerState, capacity_of
from chalicelib.domain.kinds import HoldKind
from chalicelib.domain.load import room_costs, sized_from_memory, spreadable_units
from chalicelib.domain.policy import allocate, fill_order, with_headroom
from chalicelib.domain.provider_plan import active, plan_provider


def need_units(obs: Observation, settings: Settings) -> tuple[float | None, float, list[str], float | None]:
    """(measured load units or None, units to provision, reasons, the load more servers relieve or None):
    max of load, forecast, reservations, plus headroom. A room weighing more than the largest server
    carries is counted as one full server: a room is never split, so more servers do nothing for it (one
    2,000-user room with webcams started a whole quota of idle VMs); the reasons say so."""
    load, spreadable = None, 0.0
    reasons = []
    if obs.snapshot is not None:
        rooms = list(obs.snapshot.meetings)
        allowed = room_costs(rooms, settings.weights, obs.now)
        costs, sized = sized_from_memory(
            rooms, allowed, obs.known_rooms, settings.weights, obs.now.timestamp()
        )
        load = sum(costs)
        if sized:
            reasons.append(_known(sized, sum(allowed) - load, settings.weights.young_room_participants))
        largest = max(p.capacity_units for p in settings.providers.values())
        capped = spreadable_units(costs, largest)
        spreadable = load if capped is None else capped
        if capped is not None:
            reasons.append(_oversized(obs.snapshot.meetings, costs, largest))
    if load is None:
        reasons.append("load unknown (observation failed): following schedule and reservations only")
    base, why = spreadable, ("no load known" if load is None else f"load {load:,.0f} units")
    if load is not None and spreadable < load:
        why = f"load {load:,.0f} units ({spreadable:,.0f} of them on servers that more servers relieve)"
    if obs.demand.forecast_units > base:
        base, why = (
            obs.demand.forecast_units,
            obs.demand.forecast_reason or f"forecast {obs.demand.forecast_units:,.0f} units",
        )
    if obs.demand.reserved_units > base:
        base, why = (
            obs.demand.reserved_units,
            obs.demand.reserved_reason or f"reservations {obs.demand.reserved_units:,.0f} units",
        )
    needed = with_headroom(base, settings.headroom)
    reasons.append(f"{why} + headroom = {needed:,.0f} units")
    return load, needed, reasons, (spreadable if load is not None else None)


def _known(rooms: int, fewer: float, allowance: int) -> str:
    """The line saying how many young rooms were counted at their past sessions' size."""
    change = f"{fewer:,.0f} units less" if fewer >= 0 else f"{-fewer:,.0f} units more"
    return (
        f"{rooms} young room(s) counted at the size their past sessions reached, not Scalelite's "
        f"{allowance}-user allowance for a room still filling: {change}"
    )


def _oversized(meetings, costs: list[float], largest: float) -> str:
    """The line naming the rooms heavier than the largest server (`spreadable_units` counts each as one)."""
    over = [(cost, m.meeting_id) for m, cost in zip(meetings, costs, strict=True) if cost > largest]
    heaviest, name = max(over)
    return (
        f"{len(over)} room(s) weigh more than one server carries ({largest:,.0f} units), the heaviest "
        f"{str(name)[:60]!r} {heaviest:,.0f}: each counted as one full server, since a room is never split "
        "across servers; its server is overloaded whatever the fleet"
    )


def decide(obs: Observation, settings: Settings) -> Decision:
    """Everything one tick should do, each action with its reason."""
    now, providers = obs.now, settings.providers
    load, needed, reasons, spread = need_units(obs, settings)
    caps = {}
    for name in providers:
        live = len(active(list(obs.fleet.of(name))))
        until = obs.backoff.get(name)
        if (until and until > now) or name in obs.unreachable_providers:
            caps[name] = live
    floors = {f.provider: f.servers for f in obs.overrides.floors}
    allocation = allocate(needed, providers, floors=floors, caps=caps)
    allocation = replace(allocation, reasons=tuple(reasons) + allocation.reasons)
    freeze = obs.overrides.freeze
    if freeze is not None:
        until_text = f" until {freeze.until.isoformat()}" if freeze.until else ""
        hold = Action(
            "hold",
            "*",
            f"frozen by {freeze.by}{until_text}: no action{(' — ' + freeze.reason) if freeze.reason else ''}",
            hold=HoldKind.FROZEN,
        )
        return Decision(
            allocation, load, (hold,), notes=(hold.reason,), dns=_dns(obs, settings), spread_units=spread
        )
    actions: list[Action] = []
    notes: list[str] = []
    quiet = (
        load is not None
        and obs.snapshot is not None  # always, with a load; said for the type checker
        and obs.snapshot.complete
        and spread is not None
        and spread
        <= 0.5 * sum(capacity_of(s, providers) for s in obs.fleet.servers if s.state == ServerState.SERVING)
    )
    for name in fill_order(providers):
        actions += plan_provider(name, providers[name], allocation.servers[name], obs, settings, quiet, notes)
    if allocation.unmet_servers:
        actions.append(Action("hold", "*", allocation.reasons[-1], hold=HoldKind.QUOTA))
    actions = _keep_placeable(actions, obs)
    tick_key = now.isoformat()
    keyed = tuple(replace(a, key=f"{tick_key}:{a.action}:{a.server or a.provider}") for a in actions)
    return Decision(allocation, load, keyed, notes=tuple(notes), dns=_dns(obs, settings), spread_units=spread)


def _keep_placeable(actions: list[Action], obs: Observation, floor: int = 1) -> list[Action]:
    """Never cordon the last server Scalelite can place a room on (enabled, with a load): a server the burst guard holds cordoned counts as capacity, yet takes no room, and a server
    just enabled takes none before Scalelite's next poll; draining the placeable ones as surplus leaves
    Scalelite rejecting the next class's rooms (issue 19 item 7). An operator's drain still goes."""
    if obs.placeable is None:
        return actions
    url_of = {s.name: s.url for s in obs.fleet.servers}
    left = set(obs.placeable)
    out = []
    for a in actions:
        url = url_of.get(a.server) if a.action == "cordon" and a.server else None
        if url is not None and url in left and not a.reason.endswith("drain requested by an operator"):
            if len(left) <= floor:
                out.append(
                    Action(
                        "hold",
                        a.provider,
                        f"{a.reason}: held, it is the last server Scalelite can place rooms on "
                        "(enabled, with a load)",
                        server=a.server,
                        hold=HoldKind.PLACEABLE,
                    )
                )
                continue
            left.discard(url)
        out.append(a)
    return out


def _dns(obs: Observation, settings: Settings) -> tuple[DnsChange, ...]:
    """The record changes that make the zone name each VM (none without [dns] or a readable zone). A
    freeze stops scaling, not this: a booting VM still needs its name to get its certificate."""
    if settings.dns is None or obs.dns_records is None:
        return ()
    managed = {name for name, p in settings.providers.items() if p.mode != "static"}
    naming = Naming(settings.dns.name, settings.cluster)
    return dns_changes(obs.vms, list(obs.dns_records), naming, settings.cluster, managed, settings.dns.ipv6)
