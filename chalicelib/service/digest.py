"""What a tick did, in words for people: the grouped lines that chat notifications and replies show.

Pure: reads a `tick --json` document (docs/contract.md) and returns text. An action whose `result` starts
with "failed" (the actuator's report) or that carries an `error` is a failure; a `hold` on a server
about its drain is a stuck drain (lifecycle reports long drains and never forces them); a tick whose
need the quotas cannot cover (`unmet_servers` > 0) is a shortfall; other holds and skipped actions are
left out, as they repeat every minute and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCALE_UP = frozenset({"start", "register", "enable", "uncordon"})
SCALE_DOWN = frozenset({"cordon", "stop"})


@dataclass(frozen=True, slots=True)
class Digest:
    """The noteworthy lines of one tick, by kind. Empty when there is nothing to tell anyone."""

    at: str = ""
    scale_ups: tuple[str, ...] = ()
    scale_downs: tuple[str, ...] = ()
    replacements: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    stuck_drains: tuple[str, ...] = ()
    desired: dict = field(default_factory=dict)
    shortfall: tuple[str, ...] = ()  # what the quotas cannot supply: operators must act (raise a quota...)
    guard: tuple[str, ...] = ()  # the burst guard's cordons and enables since the last tick

    def __bool__(self) -> bool:
        return bool(
            self.scale_ups
            or self.scale_downs
            or self.replacements
            or self.failures
            or self.stuck_drains
            or self.shortfall
            or self.guard
        )

    def sections(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(title, severity good|warning|danger, lines) for each non-empty kind, most urgent first."""
        table = [
            ("Quota shortfall", "danger", self.shortfall),
            ("Failures", "danger", self.failures),
            ("Stuck drains", "warning", self.stuck_drains),
            ("Scale-up", "good", self.scale_ups),
            ("Scale-down", "good", self.scale_downs),
            ("Replacements", "warning", self.replacements),
            ("Burst guard", "good", self.guard),
        ]
        return [row for row in table if row[2]]

    def headline(self) -> str:
        """One line: counts per kind, for a message's plain-text fallback."""
        parts = [f"{title.lower()} ({len(lines)})" for title, _, lines in self.sections()]
        return "bbbscale: " + (", ".join(parts) if parts else "no change")


def describe(action: dict) -> str:
    """One action as a line, e.g. "start 8 on gandi: load 431 units above capacity"."""
    verb = action.get("action", "?")
    what = action.get("server") or (
        f"{action['count']} on {action.get('provider', '?')}"
        if action.get("count")
        else f"on {action.get('provider', '?')}"
    )
    line = f"{verb} {what}"
    if action.get("reason"):
        line += f": {action['reason']}"
    if action.get("error"):
        line += f" (failed: {action['error']})"
    elif is_failure(action):
        line += f" ({action['result']})"
    return line


def is_failure(action: dict) -> bool:
    """The actuator could not carry the action out."""
    return bool(action.get("error")) or str(action.get("result", "")).startswith("failed")


def is_stuck_drain(action: dict) -> bool:
    """A hold that reports a drain running too long (servers are never cut while classes run)."""
    return (
        action.get("action") == "hold"
        and bool(action.get("server"))
        and "drain" in str(action.get("reason", "")).lower()
    )


def digest(tick: dict) -> Digest:
    """Group a tick's actions for people; a dry run did nothing, so its digest is empty."""
    if tick.get("dry_run"):
        return Digest(at=str(tick.get("at", "")), desired=dict(tick.get("desired") or {}))
    groups: dict[str, list[str]] = {"up": [], "down": [], "replace": [], "fail": [], "stuck": []}
    for action in tick.get("actions") or []:
        name = action.get("action")
        if str(action.get("result", "")).startswith("skipped"):
            continue
        if is_failure(action):
            groups["fail"].append(describe(action))
        elif is_stuck_drain(action):
            groups["stuck"].append(describe(action))
        elif name in SCALE_UP:
            groups["up"].append(describe(action))
        elif name in SCALE_DOWN:
            groups["down"].append(describe(action))
        elif name == "replace":
            groups["replace"].append(describe(action))
    return Digest(
        shortfall=shortfall(tick),
        at=str(tick.get("at", "")),
        scale_ups=tuple(groups["up"]),
        scale_downs=tuple(groups["down"]),
        replacements=tuple(groups["replace"]),
        failures=tuple(groups["fail"]),
        stuck_drains=tuple(groups["stuck"]),
        desired=dict(tick.get("desired") or {}),
        guard=tuple(tick.get("guard") or ()),
    )


def shortfall(tick: dict) -> tuple[str, ...]:
    """The line telling what the quotas cannot cover (the planner's `hold` on "*" says it with the
    units), or nothing when the need fits."""
    unmet = tick.get("unmet_servers") or 0
    if not unmet:
        return ()
    said = next(
        (
            a["reason"]
            for a in tick.get("actions") or []
            if a.get("action") == "hold" and a.get("provider") == "*" and "quota" in str(a.get("reason"))
        ),
        None,
    )
    return (said or f"quotas cannot supply {unmet} more servers",)


def summary(tick: dict) -> str:
    """A short multi-line answer for the operator who asked for a check."""
    found = digest(tick)
    desired = ", ".join(f"{p} {n}" for p, n in sorted(found.desired.items())) or "none"
    lines = [f"Capacity check at {found.at}: desired servers {desired}."]
    if not found:
        lines.append("Nothing to change.")
    for title, _, rows in found.sections():
        lines.append(f"{title}:")
        lines.extend(f"  • {row}" for row in rows)
    return "\n".join(lines)
