"""A tick's report (domain/tick_report.py) in the forms people and scripts read: the compact block on
stdout here, and the `tick --json` document and the history's line and stored detail from
domain/tick_document.py (pure, so the tick can record the history with it).

The one place the typed report becomes JSON or words for the edges: app.py, cli.py, `bbbscale run` and
the demo write what these functions make, so the contract's document has one author.
"""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.domain.tick_document import (
    action_json,
    dns_json,
    history_detail,
    history_summary,
    load_json,
    server_json,
    tick_json,
)
from chalicelib.domain.tick_report import ActionReport, LoadReport, TickReport

__all__ = [
    "action_json",
    "action_lines",
    "dns_json",
    "fleet_line",
    "history_detail",
    "history_summary",
    "load_json",
    "load_line",
    "print_tick",
    "server_json",
    "tick_json",
]

STATE_ORDER = (
    "serving",
    "requested",
    "booting",
    "healthy",
    "registered",
    "draining",
    "drained",
    "stopping",
    "failed",
)


# --- for people -------------------------------------------------------------------------------------------
def fleet_line(fleet, desired) -> str:
    """`owned 96/96 | gandi 12/40 (+20 booting, 1 draining)`: serving/desired, then the rest."""
    parts = []
    for provider in desired or fleet:
        states = fleet.get(provider, {})
        rest = ", ".join(
            f"{'+' if s in ('requested', 'booting', 'healthy', 'registered') else ''}{states[s]} {s}"
            for s in STATE_ORDER[1:]
            if states.get(s)
        )
        parts.append(
            f"{provider} {states.get('serving', 0)}/{desired.get(provider, 0)}"
            + (f" ({rest})" if rest else "")
        )
    return " | ".join(parts)


def load_line(load: LoadReport | None) -> str:
    if load is None:
        return "load unknown"
    t = load.totals
    return (
        f"{t.meetings:,} rooms, {t.participants:,} users, {t.voice:,} mics, "
        f"{t.video_streams:,} webcams = {load.load_units:,.0f} units"
    )


def action_lines(actions: Iterable[ActionReport]) -> list[str]:
    out = []
    for acted in actions:
        a = acted.action
        what = a.action + (f" {a.count}" if a.count else "") + (f" {a.server}" if a.server else "")
        result = acted.result
        shown = f" [{result}]" if result not in (None, "done", "held") else ""
        out.append(f"  -> {what} on {a.provider}: {a.reason}{shown}")
        for call in acted.calls or ():
            out.append(f"       would call: {call}")
    return out


def print_tick(report: TickReport) -> None:
    """Print a tick's report for people."""
    print(f"{report.at.isoformat()}{'  (dry run)' if report.dry_run else ''}")
    print(f"  load:    {load_line(report.load)}")
    print(
        f"  need:    {report.needed_units:,.0f} units; servers serving/desired: "
        f"{fleet_line(report.fleet, report.desired)}"
    )
    if report.reasons:  # why that many: the load, the forecast, a reservation or a floor, the quotas
        print(f"  why:     {'; '.join(report.reasons)}")
    for line in action_lines(report.actions) or ["  -> no action"]:
        print(line)
    for done in report.dns or ():  # per-server DNS records (docs/dns.md)
        change, result = done.change, done.result
        outcome = f" [{result}]" if result not in (None, "done") else ""
        print(f"  dns {change.operation} {dns_json(done)['record']}: {change.reason}{outcome}")
        for call in done.calls or ():
            print(f"       would call: {call}")
    for problem in report.problems:
        print(f"  ! {problem}")
