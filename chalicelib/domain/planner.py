"""decide(): observation in, desired servers and actions out. Pure — the heart of a tick.

Per provider: first move single servers along their lifecycle (register, enable, replace, stop when
drained), then compare the desired count with the active servers: scale up by uncordoning draining ones
before starting new ones (capped by the surge per tick), scale down only after the desired count has
stayed below the fleet for the stabilization window and only on a complete observation, choosing victims
by `lifecycle.victim_order`. Every action carries its reason.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chalicelib.config import ProviderSettings, Settings
from chalicelib.domain.decision import Action, Decision, Observation
from chalicelib.domain.dns import DnsChange, Naming, dns_changes
from chalicelib.domain.fleet import COMING, Server, ServerState, capacity_of
from chalicelib.domain.forecast import class_start_within
from chalicelib.domain.kinds import HoldKind
from chalicelib.domain.lifecycle import (
    boot_actions,
    drain_verdict,
    recordings_overdue,
    stale_reason,
    stuck_drain,
    victim_order,
)
from chalicelib.domain.load import snapshot_units
from chalicelib.domain.policy import allocate, fill_order, with_headroom
from chalicelib.domain.reconcile import GONE
from chalicelib.domain.unpolled import (
    answers,
    no_start_while_unpolled,
    unpolled_count,
    unpolled_hold,
    unpolled_names,
)


def need_units(obs: Observation, settings: Settings) -> tuple[float | None, float, list[str]]:
    """(measured load units or None, units to provision, reasons): max of load, forecast, reservations,
    plus headroom."""
    load = snapshot_units(obs.snapshot, settings.weights, obs.now) if obs.snapshot is not None else None
    reasons = []
    if load is None:
        reasons.append("load unknown (observation failed): following schedule and reservations only")
    base, why = (load or 0.0), f"load {load or 0:,.0f} units"
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
    return load, needed, reasons


def _active(servers: list[Server]) -> list[Server]:
    return [s for s in servers if s.state in COMING or s.state == ServerState.SERVING]


def decide(obs: Observation, settings: Settings) -> Decision:
    """Everything one tick should do, each action with its reason."""
    now, providers = obs.now, settings.providers
    load, needed, reasons = need_units(obs, settings)
    caps = {}
    for name in providers:
        live = len(_active(list(obs.fleet.of(name))))
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
        return Decision(allocation, load, (hold,), notes=(hold.reason,), dns=_dns(obs, settings))
    actions: list[Action] = []
    notes: list[str] = []
    quiet = (
        load is not None
        and obs.snapshot is not None  # always, with a load; said for the type checker
        and obs.snapshot.complete
        and load
        <= 0.5 * sum(capacity_of(s, providers) for s in obs.fleet.servers if s.state == ServerState.SERVING)
    )
    for name in fill_order(providers):
        actions += _plan_provider(
            name, providers[name], allocation.servers[name], obs, settings, quiet, notes
        )
    if allocation.unmet_servers:
        actions.append(Action("hold", "*", allocation.reasons[-1], hold=HoldKind.QUOTA))
    actions = _keep_placeable(actions, obs)
    tick_key = now.isoformat()
    keyed = tuple(replace(a, key=f"{tick_key}:{a.action}:{a.server or a.provider}") for a in actions)
    return Decision(allocation, load, keyed, notes=tuple(notes), dns=_dns(obs, settings))


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


def _plan_provider(
    name: str,
    provider: ProviderSettings,
    target: int,
    obs: Observation,
    settings: Settings,
    quiet: bool,
    notes: list[str],
) -> list[Action]:
    now, lifecycle = obs.now, settings.lifecycle
    servers = sorted(obs.fleet.of(name), key=lambda s: s.name)
    if provider.mode == "static":
        serving = sum(1 for s in servers if s.state == ServerState.SERVING)
        if serving < target:
            return [
                Action(
                    "hold",
                    name,
                    f"static pool: {serving} of {target} servers serving; no API to start more",
                    hold=HoldKind.STATIC_POOL,
                )
            ]
        return []
    actions: list[Action] = []
    leaving: set[str] = set()  # servers that stop counting as capacity this tick
    for s in servers:
        if s.state in GONE and s.scalelite_id and obs.scalelite is not None and s.url in obs.scalelite:
            # The registration outlived its VM: an addServer whose answer was lost before the VM was replaced
            # (never enabled: enable needs the id we never had), or a VM that vanished (lost: its meetings,
            # if any, went with it and Scalelite ends them once it is offline). Nothing can be placed there.
            actions.append(
                Action(
                    "stop",
                    name,
                    f"{s.name} is {s.state.value} but still registered in Scalelite: deleteServer",
                    server=s.name,
                )
            )
            continue
        if s.state in (ServerState.BOOTING, ServerState.HEALTHY, ServerState.REGISTERED):
            steps = boot_actions(s, obs.checks.get(s.name), provider, now)
            if (
                obs.scalelite is None
                and s.scalelite_id is None
                and any(a.action == "register" for a in steps)
            ):
                # An addServer whose answer was lost (or whose tick was killed) is only found in Scalelite's
                # list; unread, registering again could put the server in Scalelite twice.
                notes.append(f"{s.name}: healthy, registration waits for Scalelite's server list")
                steps = [a for a in steps if a.action not in ("register", "enable")]
            actions += steps
            if any(a.action == "replace" for a in steps):
                leaving.add(s.name)
        elif s.state == ServerState.SERVING:
            if s.name in obs.overrides.drain:
                actions.append(
                    Action("cordon", name, f"{s.name}: drain requested by an operator", server=s.name)
                )
                leaving.add(s.name)
            elif s.offline_ticks >= lifecycle.offline_ticks_before_replace and answers(obs, s):
                actions.append(unpolled_hold(name, s))
            elif s.offline_ticks >= lifecycle.offline_ticks_before_replace:
                actions.append(
                    Action(
                        "replace",
                        name,
                        f"{s.name} offline in Scalelite for {s.offline_ticks} ticks: "
                        "cordon, drain and replace",
                        server=s.name,
                    )
                )
                leaving.add(s.name)
    active = [s for s in _active(servers) if s.name not in leaving]
    draining = [s for s in servers if s.state == ServerState.DRAINING]
    # Every draining server's drain completes (then it stops), but some are never reopened: one an operator
    # asked to drain, one cordoned because it went offline, and one whose registration is gone from
    # Scalelite's list (a stop killed after deleteServer: updateServer would answer notFound every tick).
    gone = {
        s.name
        for s in draining
        if obs.scalelite is not None and s.scalelite_id and s.url not in obs.scalelite
    }
    reopenable = [
        s
        for s in draining
        if s.offline_ticks < lifecycle.offline_ticks_before_replace
        and s.name not in gone
        and s.name not in obs.overrides.drain
    ]
    # Rolling recycling (age or image): at a quiet time, a bounded batch is replaced, capacity first.
    ages = [(s, stale_reason(s, provider, lifecycle, now)) for s in active if s.state == ServerState.SERVING]
    stale = [(s, why) for s, why in ages if why][: lifecycle.refresh_batch] if quiet else []
    fresh_serving = sum(1 for s in active if s.state == ServerState.SERVING) - len(stale)
    for s, why in stale:
        if fresh_serving >= target:
            actions.append(
                Action(
                    "replace", name, f"recycle {s.name}: {why}; replacement capacity serving", server=s.name
                )
            )
            leaving.add(s.name)
    active_for_target = [s for s in active if s not in [x for x, _ in stale]]
    deficit = target - len(active_for_target)
    reopened: set[str] = set()
    if deficit > 0:
        for s in sorted(reopenable, key=lambda s: -s.meetings)[:deficit]:
            actions.append(
                Action(
                    "uncordon",
                    name,
                    f"desired {target} > active {len(active_for_target)}: "
                    f"uncordon {s.name} rather than boot a new one",
                    server=s.name,
                )
            )
            reopened.add(s.name)
        deficit -= len(reopened)
    if deficit > 0:
        actions += _start(name, provider, target, deficit, active_for_target, servers, obs, settings)
    elif deficit < 0:
        actions += _scale_down(
            name, provider, target, active_for_target, obs, settings, [x for x, _ in stale]
        )
    cordoned = {a.server for a in actions if a.action == "cordon"}  # an unpolled surplus: cordoned, not held
    actions = [a for a in actions if not (a.hold == HoldKind.UNPOLLED and a.server in cordoned)]
    actions += _resume_stops(name, servers, obs)
    for s in draining:
        if s.name in reopened:
            continue
        registered = obs.scalelite.get(s.url) if obs.scalelite is not None and s.url else None
        if obs.scalelite is None:
            notes.append(f"{s.name}: Scalelite's server list unread; drain not verified")
            continue
        ok, why = drain_verdict(s, registered, obs.checks.get(s.name), provider, lifecycle, now)
        if ok:
            actions.append(Action("stop", name, why, server=s.name))
        elif recordings_overdue(s, obs.checks.get(s.name), lifecycle, now):
            actions.append(Action("hold", name, why, server=s.name, hold=HoldKind.RECORDINGS))
        else:
            stuck = stuck_drain(s, lifecycle, now)
            if stuck:
                actions.append(
                    Action("hold", name, f"{stuck}: {why}", server=s.name, hold=HoldKind.STUCK_DRAIN)
                )
            else:
                notes.append(why)
    return actions


def _resume_stops(name, servers, obs: Observation) -> list[Action]:
    """Finish stops a failed call or a killed tick left half-done. A drained server was confirmed empty
    and deleted from Scalelite, so nothing can be placed on it any more; a stopping one was on its way
    out. Left alone they would run (and be billed) forever."""
    if name in obs.unreachable_providers:
        return []
    return [
        Action(
            "stop", name, f"{s.name} left {s.state.value} by an interrupted stop: finish it", server=s.name
        )
        for s in servers
        if s.state in (ServerState.DRAINED, ServerState.STOPPING)
    ]


def _start(name, provider, target, deficit, active, servers, obs, settings) -> list[Action]:
    until = obs.backoff.get(name)
    if until and until > obs.now:
        return [
            Action(
                "hold",
                name,
                f"{name} backing off after failures until {until.isoformat()}; "
                f"{deficit} server(s) short here, demand moved on",
                hold=HoldKind.BACKOFF,
            )
        ]
    if name in obs.unreachable_providers:
        return [
            Action(
                "hold",
                name,
                f"{name} API unreachable this tick; {deficit} server(s) short",
                hold=HoldKind.UNREACHABLE,
            )
        ]
    unpolled = unpolled_count(obs, settings)
    if unpolled:
        return [no_start_while_unpolled(name, target, len(active), unpolled)]
    live = sum(
        1
        for s in servers
        if s.state not in (ServerState.STOPPED, ServerState.DESTROYED, ServerState.FAILED, ServerState.LOST)
    )
    room = provider.limit - live
    count = min(deficit, provider.max_surge, room)
    if count <= 0:
        return [
            Action(
                "hold",
                name,
                f"desired {target} but {live} live servers already at the limit {provider.limit}",
                hold=HoldKind.AT_LIMIT,
            )
        ]
    why = f"desired {target} > active {len(active)}: start {count}"
    if count < deficit:
        cap = "surge" if deficit > provider.max_surge and provider.max_surge <= room else "limit"
        why += f" (capped from {deficit} to {count} by the {cap} of {provider.max_surge if cap == 'surge' else provider.limit})"
    return [Action("start", name, why, count=count)]


def _class_start_soon(obs: Observation, settings: Settings):
    """The timetable class start close enough to consolidate before, when the forecast is on."""
    if not settings.forecast.enabled:
        return None
    return class_start_within(
        obs.now, settings.forecast, settings.lifecycle.consolidate_before_slot_minutes, settings.timezone
    )


def _scale_down(name, provider, target, active, obs: Observation, settings: Settings, stale) -> list[Action]:
    if obs.snapshot is None or not obs.snapshot.complete or obs.scalelite is None:
        return [
            Action(
                "hold",
                name,
                f"desired {target} < active {len(active)}, but the observation is incomplete: "
                "no scale-down on doubtful data",
                hold=HoldKind.DOUBT,
            )
        ]
    window = timedelta(minutes=settings.lifecycle.stabilization_minutes)
    slot = _class_start_soon(obs, settings)
    if slot is not None:
        # A class start is a burst: Scalelite spreads its rooms over every enabled server and pins them
        # there, so the surplus must be cordoned before it, not a stabilization window after it.
        keep = target
        minutes = (slot - obs.now).total_seconds() / 60
        why = f"the {slot:%H:%M} class starts in {minutes:.0f} min"
    else:
        recent = [(t, d.get(name, 0)) for t, d in obs.recent_desired if t >= obs.now - window]
        covered = bool(recent) and min(t for t, _ in recent) <= obs.now - window + timedelta(
            minutes=settings.interval_minutes
        )
        if window.total_seconds() > 0 and not covered:
            return [
                Action(
                    "hold",
                    name,
                    f"desired {target} < active {len(active)}: stabilizing "
                    f"({settings.lifecycle.stabilization_minutes:g} min window not yet covered)",
                    hold=HoldKind.STABILIZING,
                )
            ]
        keep = max([target] + [n for _, n in recent])
        why = f"max {keep} over {window.total_seconds() / 60:g} min"
    excess = len(active) - keep
    if excess <= 0:
        return []
    candidates = [s for s in active if s.state != ServerState.REQUESTED]
    seen = obs.scalelite or {}
    load = {s.name: (seen[s.url].load or 0.0) if s.url in seen else float(s.meetings) for s in candidates}
    # A server Scalelite's poller does not reach serves nothing: it goes first (then, as it drains and
    # leaves Scalelite's list, the round may reach the rest).
    unreached = unpolled_names(obs, settings)
    candidates.sort(
        key=lambda s: (s.name not in unreached, victim_order(s, provider, obs.now, s in stale, load[s.name]))
    )
    out = []
    for s in candidates[:excess]:
        out.append(
            Action(
                "cordon",
                name,
                f"desired {target} ({why}) < active {len(active)}: "
                f"cordon {s.name} ({s.state.value}, load {load[s.name]:g}"
                + (", unpolled: Scalelite's poller does not reach it" if s.name in unreached else "")
                + ")",
                server=s.name,
            )
        )
    return out
