"""One provider's part of a tick's decision (pure): its servers moved along their lifecycle, then its
desired count met — draining servers uncordoned before new ones are started, the surplus cordoned only
after the stabilization window and only on a complete observation — and its drains finished
(`chalicelib/domain/drains.py`). Every action carries its reason. `chalicelib/domain/planner.py`
`decide` calls `plan_provider` per provider, in fill order.
"""

from __future__ import annotations

from datetime import timedelta

from chalicelib.config import LifecycleSettings, ProviderSettings, Settings
from chalicelib.domain.decision import Action, Observation
from chalicelib.domain.drains import drain_steps
from chalicelib.domain.fleet import COMING, Server, ServerState
from chalicelib.domain.forecast import class_start_within
from chalicelib.domain.kinds import HoldKind
from chalicelib.domain.lifecycle import (
    boot_actions,
    stale_reason,
    victim_order,
)
from chalicelib.domain.reconcile import GONE
from chalicelib.domain.unpolled import (
    answers,
    no_start_while_unpolled,
    unpolled_count,
    unpolled_hold,
    unpolled_names,
)


def active(servers: list[Server]) -> list[Server]:
    """The servers that count as capacity: coming (requested to registered) or serving."""
    return [s for s in servers if s.state in COMING or s.state == ServerState.SERVING]


def plan_provider(
    name: str,
    provider: ProviderSettings,
    target: int,
    obs: Observation,
    settings: Settings,
    quiet: bool,
    notes: list[str],
) -> list[Action]:
    """Every action for one provider this tick, toward `target` servers; `quiet` (load at most half the
    serving capacity, on a complete observation) allows rolling recycling; what is only worth saying
    goes to `notes`."""
    servers = sorted(obs.fleet.of(name), key=lambda s: s.name)
    if provider.mode == "static":
        return _static_pool(name, servers, target)
    lifecycle = settings.lifecycle
    actions, leaving = _lifecycle_steps(name, provider, servers, obs, lifecycle, notes)
    current = [s for s in active(servers) if s.name not in leaving]
    draining = [s for s in servers if s.state == ServerState.DRAINING]
    recycled, stale = _recycle(name, provider, current, target, obs, lifecycle, quiet)
    actions += recycled
    counted = [s for s in current if s not in stale]
    deficit = target - len(counted)
    reopened: set[str] = set()
    if deficit > 0:
        for s in sorted(_reopenable(draining, obs, lifecycle), key=lambda s: -s.meetings)[:deficit]:
            actions.append(
                Action(
                    "uncordon",
                    name,
                    f"desired {target} > active {len(counted)}: uncordon {s.name} rather than boot a new one",
                    server=s.name,
                )
            )
            reopened.add(s.name)
        deficit -= len(reopened)
    if deficit > 0:
        actions += _start(name, provider, target, deficit, counted, servers, obs, settings)
    elif deficit < 0:
        actions += _scale_down(name, provider, target, counted, obs, settings, stale)
    cordoned = {a.server for a in actions if a.action == "cordon"}  # an unpolled surplus: cordoned, not held
    actions = [a for a in actions if not (a.hold == HoldKind.UNPOLLED and a.server in cordoned)]
    actions += _resume_stops(name, servers, obs)
    if provider.mode == "create":
        actions += _destroy_stopped(name, servers, obs, lifecycle.destroy_stopped_after_hours)
    draining = [s for s in draining if s.name not in reopened]
    return actions + drain_steps(name, provider, draining, obs, lifecycle, notes)


def _static_pool(name: str, servers: list[Server], target: int) -> list[Action]:
    """A static pool has no API to start servers: short of `target`, it says so."""
    serving = sum(1 for s in servers if s.state == ServerState.SERVING)
    if serving >= target:
        return []
    return [
        Action(
            "hold",
            name,
            f"static pool: {serving} of {target} servers serving; no API to start more",
            hold=HoldKind.STATIC_POOL,
        )
    ]


def _lifecycle_steps(
    name: str,
    provider: ProviderSettings,
    servers: list[Server],
    obs: Observation,
    lifecycle: LifecycleSettings,
    notes: list[str],
) -> tuple[list[Action], set[str]]:
    """Each server's next step along its lifecycle (a registration that outlived its VM deleted, a booting
    one registered and enabled, a serving one drained on request or replaced when Scalelite keeps it
    offline), and the servers that stop counting as capacity this tick."""
    now = obs.now
    actions: list[Action] = []
    leaving: set[str] = set()
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
    return actions, leaving


def _reopenable(draining: list[Server], obs: Observation, lifecycle: LifecycleSettings) -> list[Server]:
    """The draining servers worth uncordoning rather than booting new ones. Every drain completes (then the
    server stops), but some are never reopened: one an operator asked to drain, one cordoned because it
    went offline, and one whose registration is gone from Scalelite's list (a stop killed after
    deleteServer: updateServer would answer notFound every tick)."""
    gone = {
        s.name
        for s in draining
        if obs.scalelite is not None and s.scalelite_id and s.url not in obs.scalelite
    }
    return [
        s
        for s in draining
        if s.offline_ticks < lifecycle.offline_ticks_before_replace
        and s.name not in gone
        and s.name not in obs.overrides.drain
    ]


def _recycle(
    name: str,
    provider: ProviderSettings,
    current: list[Server],
    target: int,
    obs: Observation,
    lifecycle: LifecycleSettings,
    quiet: bool,
) -> tuple[list[Action], list[Server]]:
    """Rolling recycling (age or image): at a quiet time, a bounded batch of stale serving servers; each
    is replaced only while the fresh ones still meet `target` (capacity first). Returns the replacements
    and the whole stale batch (it does not count toward `target`, nor is it kept on a scale-down)."""
    if not quiet:
        return [], []
    ages = [
        (s, stale_reason(s, provider, lifecycle, obs.now)) for s in current if s.state == ServerState.SERVING
    ]
    batch = [(s, why) for s, why in ages if why][: lifecycle.refresh_batch]
    fresh_serving = sum(1 for s in current if s.state == ServerState.SERVING) - len(batch)
    replaced = [
        Action("replace", name, f"recycle {s.name}: {why}; replacement capacity serving", server=s.name)
        for s, why in batch
        if fresh_serving >= target
    ]
    return replaced, [s for s, _ in batch]


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


def _destroy_stopped(name: str, servers: list[Server], obs: Observation, hours: float) -> list[Action]:
    """A create pool's VMs stopped outside bbbscale: it never starts one again, so each is destroyed once
    it has stayed stopped `hours` (0: never). Only a VM this tick's listing shows stopped (so no meeting
    can be on it), and no longer in Scalelite's list (a registration left is deleted first, a step of
    its own: `_lifecycle_steps`)."""
    listed = obs.vms.get(name)
    if not hours or listed is None or obs.scalelite is None:
        return []
    stopped = {vm.name for vm in listed if vm.status == "stopped"}
    return [
        Action(
            "stop",
            name,
            f"{s.name} stopped outside bbbscale {(obs.now - s.since).total_seconds() / 3600:.0f} h ago "
            f"(lifecycle.destroy_stopped_after_hours = {hours:g}): destroy it",
            server=s.name,
        )
        for s in servers
        if s.state == ServerState.STOPPED
        and s.name in stopped
        and s.vm_id
        and s.url not in obs.scalelite
        and obs.now - s.since >= timedelta(hours=hours)
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
