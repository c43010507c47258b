"""What a tick did, in words for people: the grouped lines that chat notifications and replies show.

Pure: reads a tick's report (domain/tick_report.py) by its kinds and returns text. An action whose
outcome is `failed` is a failure; a hold of kind `stuck_drain` is a stuck drain (lifecycle reports long
drains and never forces them), and so is a hold of kind `certificate` (the fleet certificate's order
failed: reported in the tick it failed, the retry hours later); a tick whose need the quotas cannot cover (`unmet_servers` > 0) is a
shortfall, told in the words of its `quota` hold; other holds and skipped actions are left out, as they
repeat every minute and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.domain.chat import local_time
from chalicelib.domain.kinds import LOAD_FROM_SERVERS, HoldKind, Outcome

if TYPE_CHECKING:  # the types only: the chat's import of this module stays light (app.py cold start)
    from chalicelib.domain.tick_report import ActionReport, TickReport

SCALE_UP = frozenset({"start", "register", "enable", "uncordon"})
SCALE_DOWN = frozenset({"cordon", "recordon", "stop"})


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
    why: tuple[str, ...] = ()  # why the desired counts are what they are (the planner's reasons)
    # How the load was read, told when it changes (service/notify.py remembers the last one told):
    load_unknown: tuple[str, ...] = ()  # no load: every scale-down held
    load_from_servers: tuple[str, ...] = ()  # Scalelite's getMeetings failed: each server read instead
    load_back: tuple[str, ...] = ()  # Scalelite's getMeetings read again after either

    @property
    def reading(self) -> str:
        """How this tick read the load: "unknown", "servers" or "" (Scalelite's getMeetings)."""
        return "unknown" if self.load_unknown else "servers" if self.load_from_servers else ""

    def __bool__(self) -> bool:
        return bool(
            self.scale_ups
            or self.scale_downs
            or self.replacements
            or self.failures
            or self.stuck_drains
            or self.shortfall
            or self.guard
            or self.load_unknown
            or self.load_from_servers
            or self.load_back
        )

    def sections(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(title, severity good|warning|danger, lines) for each non-empty kind, most urgent first."""
        table = [
            ("Load unknown", "danger", self.load_unknown),
            ("Quota shortfall", "danger", self.shortfall),
            ("Failures", "danger", self.failures),
            ("Stuck drains", "warning", self.stuck_drains),
            ("Scale-up", "good", self.scale_ups),
            ("Scale-down", "good", self.scale_downs),
            ("Replacements", "warning", self.replacements),
            ("Burst guard", "good", self.guard),
            ("Load read from the servers", "warning", self.load_from_servers),
            ("Load read again", "good", self.load_back),
        ]
        return [row for row in table if row[2]]

    def headline(self) -> str:
        """One line: counts per kind, for a message's plain-text fallback."""
        parts = [f"{title.lower()} ({len(lines)})" for title, _, lines in self.sections()]
        return "bbbscale: " + (", ".join(parts) if parts else "no change")


def describe(acted: ActionReport) -> str:
    """One action as a line, e.g. "start 8 on gandi: load 431 units above capacity"."""
    a = acted.action
    what = a.server or (f"{a.count} on {a.provider}" if a.count else f"on {a.provider}")
    line = f"{a.action} {what}"
    if a.reason:
        line += f": {a.reason}"
    if acted.failed:
        line += f" ({acted.result})"
    return line


def is_stuck_drain(acted: ActionReport) -> bool:
    """A hold that reports a drain running too long (servers are never cut while classes run), or one
    whose recordings wait past their bound for Scalelite's transfer."""
    return acted.hold in (HoldKind.STUCK_DRAIN, HoldKind.RECORDINGS)


def digest(tick: TickReport) -> Digest:
    """Group a tick's actions for people; a dry run did nothing, so its digest is empty."""
    at = tick.at.isoformat()
    if tick.dry_run:
        return Digest(at=at, desired=dict(tick.desired), why=tuple(tick.reasons))
    groups: dict[str, list[str]] = {"up": [], "down": [], "replace": [], "fail": [], "stuck": []}
    for acted in tick.actions:
        name = acted.action.action
        if acted.outcome is Outcome.SKIPPED:
            continue
        if acted.failed or acted.hold is HoldKind.CERTIFICATE:  # a failed order: held once, then retried
            groups["fail"].append(describe(acted))
        elif is_stuck_drain(acted):
            groups["stuck"].append(describe(acted))
        elif name in SCALE_UP:
            groups["up"].append(describe(acted))
        elif name in SCALE_DOWN:
            groups["down"].append(describe(acted))
        elif name == "replace":
            groups["replace"].append(describe(acted))
    unknown, from_servers = reading(tick)
    return Digest(
        load_unknown=unknown,
        load_from_servers=from_servers,
        shortfall=shortfall(tick),
        at=at,
        scale_ups=tuple(groups["up"]),
        scale_downs=tuple(groups["down"]),
        replacements=tuple(groups["replace"]),
        failures=tuple(groups["fail"]),
        stuck_drains=tuple(groups["stuck"]),
        desired=dict(tick.desired),
        guard=tuple(tick.guard or ()),
        why=tuple(tick.reasons),
    )


def reading(tick: TickReport) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lines if the load is unknown, lines if it was read from each server): the tick's own problem
    lines about it. A tick that found the lease held read nothing of its own: neither."""
    if tick.lease_held:
        return (), ()
    if tick.load is None:  # the problems say why, in words: the Scalelite ones are shown
        said = tuple(p for p in tick.problems if p.startswith(("Scalelite", LOAD_FROM_SERVERS)))[:3]
        return said + ("every scale-down held until the load is read",), ()
    if not tick.load.from_servers:
        return (), ()
    said = tuple(p for p in tick.problems if p.startswith(LOAD_FROM_SERVERS))[:1]
    return (), said or (LOAD_FROM_SERVERS,)


def shortfall(tick: TickReport) -> tuple[str, ...]:
    """The line telling what the quotas cannot cover (the planner's quota hold says it with the units),
    or nothing when the need fits."""
    if not tick.unmet_servers:
        return ()
    said = next((acted.action.reason for acted in tick.held(HoldKind.QUOTA)), None)
    return (said or f"quotas cannot supply {tick.unmet_servers} more servers",)


def summary(tick: TickReport, zone: str = "UTC") -> str:
    """A short multi-line answer for the operator who asked for a check (its time in `zone`)."""
    found = digest(tick)
    desired = ", ".join(f"{p} {n}" for p, n in sorted(found.desired.items())) or "none"
    lines = [f"Capacity check at {local_time(found.at, zone)}: desired servers {desired}."]
    if found.why:
        lines.append(f"Why: {'; '.join(found.why)}.")
    if not found:
        lines.append("Nothing to change.")
    for title, _, rows in found.sections():
        lines.append(f"{title}:")
        lines.extend(f"  • {row}" for row in rows)
    return "\n".join(lines)
