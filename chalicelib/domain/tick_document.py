"""A tick's report (domain/tick_report.py) as the `tick --json` document of docs/contract.md, and what
the history keeps of it: the one author of that document. Pure (no I/O): the tick records the history
with it, and the edges (app.py, cli.py, `bbbscale run` through chalicelib/render.py) print it.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from chalicelib.domain.fleet import Server, ServerState
from chalicelib.domain.kinds import HoldKind
from chalicelib.domain.load import totals_json
from chalicelib.domain.tick_report import ActionReport, DnsReport, LoadReport, TickReport

#: The keys of the contract document the history keeps of each tick (what `status` and people read back).
HISTORY_KEYS = ("load", "desired", "fleet", "actions", "needed_units", "unmet_servers", "reasons", "problems")


# --- the tick --json document ------------------------------------------------------------------------------
def tick_json(report: TickReport) -> dict:
    """The `tick --json` document of docs/contract.md, extended with the servers, reasons and problems.
    A tick that found the lease held writes the short document it always wrote."""
    if report.lease_held:
        return {
            "at": report.at.isoformat(),
            "dry_run": report.dry_run,
            "load": None,
            "desired": {},
            "fleet": {},
            "actions": [action_json(a) for a in report.actions],
            "version": report.version,
        }
    out: dict[str, object] = {
        "at": report.at.isoformat(),
        "dry_run": report.dry_run,
        "load": load_json(report.load),
        "desired": dict(report.desired),
        "fleet": {provider: dict(states) for provider, states in report.fleet.items()},
        "actions": [action_json(a) for a in report.actions],
        "needed_units": report.needed_units,
        "unmet_servers": report.unmet_servers,
        "reasons": list(report.reasons),
        "notes": list(report.notes),
        "problems": list(report.problems),
        "servers": [server_json(s) for s in report.servers],
        "version": report.version,  # which bbbscale decided: an operator compares two deployments by it
    }
    if report.dns is not None:
        out["dns"] = [dns_json(c) for c in report.dns]
    out["tick_id"] = report.tick_id
    if report.guard is not None:
        out["guard"] = list(report.guard)
    if report.herding:
        out["herding"] = dict(report.herding)
    return out


def load_unknown(document: dict) -> bool | None:
    """Whether a tick that ran could not read the load (every scale-down held until it can): the
    `LoadUnknown` metric. None for a tick that found the lease held: it read nothing, by design."""
    if "problems" not in document:  # the lease-held document: the short one, above
        return None
    return document.get("load") is None


def load_json(load: LoadReport | None) -> dict | None:
    """The `load --json` keys; `complete: false` when some server could not be read."""
    if load is None:
        return None
    out: dict[str, object] = {**totals_json(load.totals), "load_units": load.load_units}
    if not load.complete:
        out["complete"] = False
    return out


def action_json(acted: ActionReport) -> dict:
    """An action with its `result` (when carried out) and the `calls` a dry run would make."""
    if acted.hold is HoldKind.DNS and acted.action.action == "hold":
        a = acted.action  # a failed record change's hold has always named its server before its reason
        out: dict[str, object] = {
            "action": a.action,
            "provider": a.provider,
            "server": a.server,
            "reason": a.reason,
        }
    else:
        out = acted.action.as_json()
    return _with_result(out, acted)


def dns_json(done: DnsReport) -> dict:
    return _with_result(done.change.as_json(), done)


def _with_result(out: dict, done: ActionReport | DnsReport) -> dict:
    """`result` when it was carried out, the `calls` a dry run would make."""
    if done.outcome is not None:
        out["result"] = done.result
    if done.calls is not None:
        out["calls"] = list(done.calls)
    return out


def server_json(s: Server) -> dict:
    return {
        "name": s.name,
        "provider": s.provider,
        "state": _STATE_WORDS[s.state],
        "meetings": s.meetings,
        "since": _stamp(s.since, s.since.tzinfo, s.since.fold),
        "reason": s.reason,
    }


#: Each state's word in the report, as a plain str (the enum's `.value` is a Python-level property).
_STATE_WORDS = {state: state.value for state in ServerState}


@lru_cache(maxsize=4096)
def _stamp(at: datetime, zone, fold: int) -> str:
    """`at.isoformat()`, remembered: a server's `since` is reported every tick until it moves again (a
    replayed week reports ~400,000 of them). Keyed on the zone and fold as well, since two equal datetimes
    can still print differently (same instant in another zone; the repeated hour of a DST change)."""
    return at.isoformat()


# --- the history ----------------------------------------------------------------------------------------
def history_detail(document: dict) -> dict:
    """What the history stores of a tick: part of its `tick --json` document."""
    return {k: document[k] for k in HISTORY_KEYS}


def history_summary(report: TickReport) -> str:
    """One human line for the history: what was decided and why."""
    desired = ", ".join(f"{p} {n}" for p, n in report.desired.items())
    acts = (
        "; ".join(
            f"{a.action} {a.count or a.server or ''} {a.provider}: {a.reason}".strip()
            for a in (acted.action for acted in report.actions)
        )
        or "no action"
    )
    load = report.load
    seen = (
        f"{load.totals.participants} users in {load.totals.meetings} rooms, {load.load_units} units"
        if load
        else "load unknown"
    )
    why = f" ({'; '.join(report.reasons)})" if report.reasons else ""
    return f"{seen}; desired {desired}{why}; {acts}"
