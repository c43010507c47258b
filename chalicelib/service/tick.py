"""One capacity check: observe -> decide -> act, under the lease. `bbbscale tick`, the scheduled Lambda
`capacity_check`, the demo and the simulator all run this function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib import __version__
from chalicelib.credentials import mask_credentials
from chalicelib.domain.certificate import Step
from chalicelib.domain.decision import Action, Decision, Observation
from chalicelib.domain.fleet import FINAL, Fleet, ServerState
from chalicelib.domain.kept import DesiredAt
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.domain.load import snapshot_units
from chalicelib.domain.planner import decide
from chalicelib.domain.tick_document import history_detail, history_summary, tick_json
from chalicelib.domain.tick_report import ActionReport, DnsReport, LoadReport, TickReport
from chalicelib.ports import BbbscaleError, HistoryEntry
from chalicelib.service.actuator import Actuator
from chalicelib.service.dry_run import DryRunPorts, describe
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.lease import LeaseHold, new_owner
from chalicelib.service.observe import observe
from chalicelib.service.room_memory import GuardMemory, known_rooms, learn_rooms
from chalicelib.service.service_ports import ActuatorPorts, ObservePorts

#: Records whose VM is gone for good (STOPPED stays: a power-mode pool's stopped VMs are its inventory).
FORGETTABLE = frozenset({ServerState.DESTROYED, ServerState.LOST, ServerState.FAILED})


def run_tick(
    ports: FleetPorts, now: datetime | None = None, dry_run: bool = False, memory: GuardMemory | None = None
) -> TickReport:
    """Run one tick and return its report (render.tick_json makes it the `tick --json` document). A dry
    run observes and decides, records the decision in the history, and acts on nothing (not even
    reconciliation writes). `memory`: what this process learned of room sizes at earlier ticks (the
    Wiring's; None: a tick of its own, which reads them from the store)."""
    now = now or ports.clock()
    owner = new_owner()
    began = ports.clock()
    lease = LeaseHold(
        ports.store.lease,
        owner,
        lambda: (
            now + (ports.clock() - began)
        ),  # the lease's time runs from the tick's `now` on the ports' clock
        ports.settings.lifecycle.lease_seconds,
        heartbeat=ports.lease_heartbeat,
    )
    if not dry_run and not lease.take(now):
        hold = Action(
            "hold", "*", "another capacity check holds the lease: not acting twice", hold=HoldKind.LEASE
        )
        held = TickReport(now, False, None, {}, {}, (ActionReport(hold),), __version__)
        ports.store.history.record(HistoryEntry(now, "tick", hold.reason, {}))
        return held
    try:
        obs, _ = observe(ObservePorts.of(ports), now, persist=not dry_run)
        kept = memory if memory is not None else GuardMemory()  # a tick of its own: its own
        if ports.settings.guard.enabled:  # the room sizes are learned where the guard is on
            obs = replace(obs, known_rooms=known_rooms(kept, ports.store, ports.settings, now, obs.snapshot))
        decision = decide(obs, ports.settings)
        dns: tuple[DnsReport, ...]
        guard: tuple[str, ...] | None = None
        herding = None
        if dry_run:
            seen = DryRunPorts(ports.settings, ports.providers, ports.dns)
            actions = tuple(
                ActionReport(a, calls=tuple(describe(seen, a, obs.fleet))) for a in decision.actions
            )
            zone = ports.dns
            dns = tuple(
                DnsReport(c, calls=tuple(zone.calls(c.operation, [c.record]))) for c in decision.dns if zone
            )
            fleet = obs.fleet
        else:
            actuator = Actuator(ActuatorPorts.of(ports), now, holds=lease.holds, dns_records=obs.dns_records)
            actions = actuator.apply(decision, obs.fleet)
            dns = tuple(actuator.dns_report)
            _remember_desired(ports, now, decision)
            ports.learn(now, decision.learned_units)
            if ports.settings.guard.enabled:
                learn_rooms(kept, ports.store, ports.settings, now, obs.snapshot)  # the guard's room sizes
            _forget_ended(ports, now)
            fleet = Fleet(tuple(ports.store.servers.servers()))
            guard = tuple(
                ports.store.guard_ledger.take_unreported()
            )  # the burst guard's changes since the last tick
            herding = ports.store.guard_readings.take_spread()  # how evenly the last burst landed, once
        certificate = _certificate_step(ports, now, dry_run, lease.holds)
        result = report(
            now,
            dry_run,
            obs,
            decision,
            actions,
            fleet,
            ports.settings,
            dns=dns if ports.settings.dns is not None else None,
            tick_id=owner,
            guard=guard,
            herding=herding,
        )
        if certificate:
            notes, holds = certificate
            result = replace(result, notes=result.notes + notes, actions=result.actions + holds)
        detail = history_detail(tick_json(result))
        ports.store.history.record(HistoryEntry(now, "tick", history_summary(result), detail))
        if not dry_run:
            ports.announce(result)
        return result
    finally:
        if not dry_run:
            lease.release()


def _certificate_step(
    ports: FleetPorts, now: datetime, dry_run: bool, holds
) -> tuple[tuple[str, ...], tuple[ActionReport, ...]] | None:
    """The fleet certificate's step (service/certificates.py), after the scaling actions: a note for the
    report, and a `hold` (kind certificate) when it failed. A dry run only says what is due."""
    keeper = ports.certificates
    if keeper is None:
        return None
    if dry_run:
        try:
            verdict = keeper.look(now)
        except BbbscaleError as error:
            return (f"certificate: {error}",), ()
        return ((f"certificate: {verdict.reason}",) if verdict.step is not Step.NONE else ()), ()
    outcome = keeper.maintain(now, holds)
    notes = (outcome.note,) if outcome.note else ()
    if outcome.hold is None:
        return notes, ()
    hold = Action("hold", "*", outcome.hold, hold=HoldKind.CERTIFICATE)
    return notes, (ActionReport.of(hold, Outcome.HELD),)


def _remember_desired(ports: FleetPorts, now: datetime, decision: Decision) -> None:
    """Keep the desired counts of the stabilization window (scale-down waits until it is covered)."""
    window = timedelta(
        minutes=ports.settings.lifecycle.stabilization_minutes + 2 * ports.settings.interval_minutes
    )
    ports.store.tick_memory.remember(DesiredAt(now, dict(decision.desired)), since=now - window)


def _forget_ended(ports: FleetPorts, now: datetime) -> None:
    """Drop records that ended (destroyed, lost, failed, no registration left) a while ago, so a tick does
    not read a growing list; their transitions stay in the history, and a VM that would still show up
    under our tag is adopted again by reconciliation."""
    horizon = now - timedelta(hours=ports.settings.lifecycle.forget_after_hours)
    for server in ports.store.servers.servers():
        if server.state in FORGETTABLE and server.scalelite_id is None and server.since < horizon:
            ports.store.servers.forget(server)


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
        load = LoadReport(  # 0.0, never int 0
            snapshot.totals, float(round(units, 2)), snapshot.complete, snapshot.from_servers
        )
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
