"""One capacity check: observe -> decide -> act, under the lease. `bbbscale tick`, the scheduled Lambda
`capacity_check`, the demo and the simulator all run this function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from chalicelib import __version__
from chalicelib.credentials import mask_credentials
from chalicelib.domain.decision import Action, Decision, Observation
from chalicelib.domain.fleet import FINAL, Fleet, ServerState
from chalicelib.domain.kinds import HoldKind
from chalicelib.domain.load import snapshot_units
from chalicelib.domain.planner import decide
from chalicelib.domain.tick_report import ActionReport, DnsReport, LoadReport, TickReport
from chalicelib.ports import HistoryEntry
from chalicelib.render import history_detail, history_summary, tick_json
from chalicelib.service.actuator import Actuator
from chalicelib.service.guard import learn_rooms, take_spread, take_unreported
from chalicelib.service.lease import LeaseHold, new_owner
from chalicelib.service.observe import RECENT_DESIRED, observe

#: Records whose VM is gone for good (STOPPED stays: a power-mode pool's stopped VMs are its inventory).
FORGETTABLE = frozenset({ServerState.DESTROYED, ServerState.LOST, ServerState.FAILED})


def run_tick(rt, now: datetime | None = None, dry_run: bool = False) -> TickReport:
    """Run one tick and return its report (render.tick_json makes it the `tick --json` document). A dry
    run observes and decides, records the decision in the history, and acts on nothing (not even
    reconciliation writes)."""
    now = now or rt.clock()
    owner = new_owner()
    began = rt.clock()
    lease = LeaseHold(
        rt.store.lease,
        owner,
        lambda: now + (rt.clock() - began),  # the lease's time runs from the tick's `now` on rt's clock
        rt.settings.lifecycle.lease_seconds,
        heartbeat=getattr(rt, "lease_heartbeat", None),
    )
    if not dry_run and not lease.take(now):
        hold = Action(
            "hold", "*", "another capacity check holds the lease: not acting twice", hold=HoldKind.LEASE
        )
        held = TickReport(now, False, None, {}, {}, (ActionReport(hold),), __version__)
        rt.store.history.record(HistoryEntry(now, "tick", hold.reason, {}))
        return held
    try:
        obs, _ = observe(rt, now, persist=not dry_run)
        decision = decide(obs, rt.settings)
        dns: tuple[DnsReport, ...]
        guard: tuple[str, ...] | None = None
        herding = None
        if dry_run:
            actions = tuple(ActionReport(a, calls=tuple(rt.describe(a, obs.fleet))) for a in decision.actions)
            dns = tuple(
                DnsReport(c, calls=tuple(rt.dns.calls(c.operation, [c.record]))) for c in decision.dns
            )
            fleet = obs.fleet
        else:
            actuator = Actuator(rt, now, holds=lease.holds, dns_records=obs.dns_records)
            actions = actuator.apply(decision, obs.fleet)
            dns = tuple(actuator.dns_report)
            _remember_desired(rt, now, decision)
            rt.learn(now, decision.load_units)
            if rt.settings.guard.enabled:
                learn_rooms(rt, now, obs.snapshot)  # what each room weighs: the burst guard's projections
            _forget_ended(rt, now)
            fleet = Fleet(tuple(rt.store.servers.servers()))
            guard = tuple(take_unreported(rt))  # the burst guard's changes since the last tick
            herding = take_spread(rt)  # how evenly the last burst landed, once
        result = report(
            now,
            dry_run,
            obs,
            decision,
            actions,
            fleet,
            rt.settings,
            dns=dns if rt.settings.dns is not None else None,
            tick_id=owner,
            guard=guard,
            herding=herding,
        )
        detail = history_detail(tick_json(result))
        rt.store.history.record(HistoryEntry(now, "tick", history_summary(result), detail))
        if not dry_run:
            rt.notify(result)
        return result
    finally:
        if not dry_run:
            lease.release()


def _remember_desired(rt, now: datetime, decision: Decision) -> None:
    """Keep the desired counts of the stabilization window (scale-down waits until it is covered)."""
    window = timedelta(minutes=rt.settings.lifecycle.stabilization_minutes + 2 * rt.settings.interval_minutes)
    kept = [
        (t, d)
        for t, d in (rt.store.settings.get(RECENT_DESIRED, None) or [])
        if datetime.fromisoformat(t) >= now - window
    ]
    kept.append((now.isoformat(), decision.desired))
    rt.store.settings.put(RECENT_DESIRED, kept)


def _forget_ended(rt, now: datetime) -> None:
    """Drop records that ended (destroyed, lost, failed, no registration left) a while ago, so a tick does
    not read a growing list; their transitions stay in the history, and a VM that would still show up
    under our tag is adopted again by reconciliation."""
    horizon = now - timedelta(hours=rt.settings.lifecycle.forget_after_hours)
    for server in rt.store.servers.servers():
        if server.state in FORGETTABLE and server.scalelite_id is None and server.since < horizon:
            rt.store.servers.forget(server)


def report(
    now: datetime,
    dry_run: bool,
    obs: Observation,
    decision: Decision,
    actions: tuple[ActionReport, ...],
    fleet: Fleet,
    settings,
    *,
    dns: tuple[DnsReport, ...] | None = None,
    tick_id: str | None = None,
    guard: tuple[str, ...] | None = None,
    herding: Mapping[str, object] | None = None,
) -> TickReport:
    """The tick's report: what it observed and decided, what became of each action, the live servers,
    and (see TickReport) the DNS changes, the tick's id, the burst guard's changes and the herding."""
    snapshot = obs.snapshot
    load = None
    if snapshot is not None:
        units = decision.load_units
        if units is None:
            units = snapshot_units(snapshot, settings.weights, now)
        load = LoadReport(snapshot.totals, float(round(units, 2)), snapshot.complete)  # 0.0, never int 0
    return TickReport(
        at=now,
        dry_run=dry_run,
        load=load,
        desired=decision.desired,
        fleet=fleet.counts(),
        actions=tuple(actions),
        version=__version__,  # which bbbscale decided: an operator compares two deployments by it
        needed_units=round(decision.allocation.needed_units, 1),
        unmet_servers=decision.allocation.unmet_servers,
        reasons=tuple(decision.allocation.reasons),
        notes=tuple(decision.notes),
        problems=tuple(mask_credentials(problem) for problem in obs.problems),
        servers=tuple(
            sorted((s for s in fleet.servers if s.state not in FINAL), key=lambda s: (s.provider, s.name))
        ),
        dns=dns,
        tick_id=tick_id,
        guard=guard,
        herding=herding,
    )
