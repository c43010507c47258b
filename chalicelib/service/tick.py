"""One capacity check: observe -> decide -> act, under the lease. `bbbscale tick`, the scheduled Lambda
`capacity_check`, the demo and the simulator all run this function.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from chalicelib import __version__
from chalicelib.credentials import mask_credentials
from chalicelib.domain.decision import Decision, Observation
from chalicelib.domain.fleet import FINAL, Fleet, ServerState
from chalicelib.domain.load import load_report
from chalicelib.domain.planner import decide
from chalicelib.ports import HistoryEntry
from chalicelib.service.actuator import Actuator
from chalicelib.service.dry_run import describe
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.guard import learn_rooms, take_spread, take_unreported
from chalicelib.service.lease import LeaseHold, new_owner
from chalicelib.service.observe import RECENT_DESIRED, observe

#: Records whose VM is gone for good (STOPPED stays: a power-mode pool's stopped VMs are its inventory).
FORGETTABLE = frozenset({ServerState.DESTROYED, ServerState.LOST, ServerState.FAILED})
#: Each state's word in the report, as a plain str (the enum's `.value` is a Python-level property).
_STATE_WORDS = {state: state.value for state in ServerState}


def run_tick(ports: FleetPorts, now: datetime | None = None, dry_run: bool = False) -> dict:
    """Run one tick and return the `tick --json` document. A dry run observes and decides, records the
    decision in the history, and acts on nothing (not even reconciliation writes)."""
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
        hold = {
            "action": "hold",
            "provider": "*",
            "reason": "another capacity check holds the lease: not acting twice",
        }
        result: dict[str, object] = {
            "at": now.isoformat(),
            "dry_run": False,
            "load": None,
            "desired": {},
            "fleet": {},
            "actions": [hold],
            "version": __version__,
        }
        ports.store.history.record(HistoryEntry(now, "tick", hold["reason"], {}))
        return result
    try:
        obs, _ = observe(ports, now, persist=not dry_run)
        decision = decide(obs, ports.settings)
        dns: list[dict] = []
        if dry_run:
            actions = [{**a.as_json(), "calls": describe(ports, a, obs.fleet)} for a in decision.actions]
            zone = ports.dns
            dns = [
                {**c.as_json(), "calls": zone.calls(c.operation, [c.record])} for c in decision.dns if zone
            ]
            fleet = obs.fleet
        else:
            actuator = Actuator(ports, now, holds=lease.holds, dns_records=obs.dns_records)
            actions = actuator.apply(decision, obs.fleet)
            dns = actuator.dns_report
            _remember_desired(ports, now, decision)
            ports.learn(now, decision.load_units)
            if ports.settings.guard.enabled:
                learn_rooms(ports, now, obs.snapshot)  # what each room weighs: the burst guard's projections
            _forget_ended(ports, now)
            fleet = Fleet(tuple(ports.store.servers.servers()))
        result = report(now, dry_run, obs, decision, actions, fleet, ports.settings)
        if ports.settings.dns is not None:
            result["dns"] = dns
        result["tick_id"] = owner
        if not dry_run:
            result["guard"] = take_unreported(ports.store)  # the burst guard's changes since the last tick
            herding = take_spread(ports.store)  # how evenly the last burst landed, once
            if herding:
                result["herding"] = herding
        ports.store.history.record(HistoryEntry(now, "tick", summary(result), _history_detail(result)))
        if not dry_run:
            ports.announce(result)
        return result
    finally:
        if not dry_run:
            lease.release()


def _remember_desired(ports: FleetPorts, now: datetime, decision: Decision) -> None:
    """Keep the desired counts of the stabilization window (scale-down waits until it is covered)."""
    window = timedelta(
        minutes=ports.settings.lifecycle.stabilization_minutes + 2 * ports.settings.interval_minutes
    )
    kept = [
        (t, d)
        for t, d in (ports.store.settings.get(RECENT_DESIRED, None) or [])
        if datetime.fromisoformat(t) >= now - window
    ]
    kept.append((now.isoformat(), decision.desired))
    ports.store.settings.put(RECENT_DESIRED, kept)


def _forget_ended(ports: FleetPorts, now: datetime) -> None:
    """Drop records that ended (destroyed, lost, failed, no registration left) a while ago, so a tick does
    not read a growing list; their transitions stay in the history, and a VM that would still show up
    under our tag is adopted again by reconciliation."""
    horizon = now - timedelta(hours=ports.settings.lifecycle.forget_after_hours)
    for server in ports.store.servers.servers():
        if server.state in FORGETTABLE and server.scalelite_id is None and server.since < horizon:
            ports.store.servers.forget(server)


def report(now, dry_run, obs: Observation, decision: Decision, actions, fleet: Fleet, settings) -> dict:
    """The `tick --json` document of docs/contract.md, extended with the servers, reasons and problems."""
    snapshot = obs.snapshot
    load = None
    if snapshot is not None:
        load = load_report(snapshot, settings.weights, now, decision.load_units)
        if not snapshot.complete:
            load["complete"] = False
    return {
        "at": now.isoformat(),
        "dry_run": dry_run,
        "load": load,
        "desired": decision.desired,
        "fleet": fleet.counts(),
        "actions": actions,
        "needed_units": round(decision.allocation.needed_units, 1),
        "unmet_servers": decision.allocation.unmet_servers,
        "reasons": list(decision.allocation.reasons),
        "notes": list(decision.notes),
        "problems": [mask_credentials(problem) for problem in obs.problems],
        "servers": [
            {
                "name": s.name,
                "provider": s.provider,
                "state": _STATE_WORDS[s.state],
                "meetings": s.meetings,
                "since": _stamp(s.since, s.since.tzinfo, s.since.fold),
                "reason": s.reason,
            }
            for s in sorted(
                (s for s in fleet.servers if s.state not in FINAL), key=lambda s: (s.provider, s.name)
            )
        ],
        "version": __version__,  # which bbbscale decided: an operator compares two deployments by it
    }


@lru_cache(maxsize=4096)
def _stamp(at: datetime, zone, fold: int) -> str:
    """`at.isoformat()`, remembered: a server's `since` is reported every tick until it moves again (a
    replayed week reports ~400,000 of them). Keyed on the zone and fold as well, since two equal datetimes
    can still print differently (same instant in another zone; the repeated hour of a DST change)."""
    return at.isoformat()


def summary(result: dict) -> str:
    """One human line for the history: what was decided and why."""
    desired = ", ".join(f"{p} {n}" for p, n in result["desired"].items())
    acts = (
        "; ".join(
            f"{a['action']} {a.get('count') or a.get('server') or ''} {a['provider']}: {a['reason']}".strip()
            for a in result["actions"]
        )
        or "no action"
    )
    load = result["load"]
    seen = (
        f"{load['participants']} users in {load['meetings']} rooms, {load['load_units']} units"
        if load
        else "load unknown"
    )
    return f"{seen}; desired {desired}; {acts}"


def _history_detail(result: dict) -> dict:
    return {
        k: result[k]
        for k in (
            "load",
            "desired",
            "fleet",
            "actions",
            "needed_units",
            "unmet_servers",
            "reasons",
            "problems",
        )
    }
