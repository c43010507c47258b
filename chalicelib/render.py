"""Human output of a tick: one compact block an operator can read at a glance (stdout)."""

from __future__ import annotations

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


def fleet_line(fleet: dict[str, dict[str, int]], desired: dict[str, int]) -> str:
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


def load_line(load: dict | None) -> str:
    if load is None:
        return "load unknown"
    return (
        f"{load['meetings']:,} rooms, {load['participants']:,} users, {load['voice']:,} mics, "
        f"{load['video_streams']:,} webcams = {load['load_units']:,.0f} units"
    )


def action_lines(actions: list[dict]) -> list[str]:
    out = []
    for a in actions:
        what = (
            a["action"]
            + (f" {a['count']}" if a.get("count") else "")
            + (f" {a['server']}" if a.get("server") else "")
        )
        result = f" [{a['result']}]" if a.get("result") not in (None, "done", "held") else ""
        out.append(f"  -> {what} on {a['provider']}: {a['reason']}{result}")
        for call in a.get("calls", []):
            out.append(f"       would call: {call}")
    return out


def print_tick(result: dict) -> None:
    """Print a tick result for people."""
    print(f"{result['at']}{'  (dry run)' if result['dry_run'] else ''}")
    print(f"  load:    {load_line(result['load'])}")
    print(
        f"  need:    {result.get('needed_units', 0):,.0f} units; servers serving/desired: "
        f"{fleet_line(result['fleet'], result['desired'])}"
    )
    for line in action_lines(result["actions"]) or ["  -> no action"]:
        print(line)
    for change in result.get("dns", []):  # per-server DNS records (docs/dns.md)
        outcome = f" [{change['result']}]" if change.get("result") not in (None, "done") else ""
        print(f"  dns {change['operation']} {change['record']}: {change['reason']}{outcome}")
        for call in change.get("calls", []):
            print(f"       would call: {call}")
    for problem in result.get("problems", []):
        print(f"  ! {problem}")
