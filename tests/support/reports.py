"""Builders of tick reports (chalicelib/domain/tick_report.py) for the tests of what reads them: the
digest, the chat notifications and replies. Only the fields a test names differ from a quiet tick."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.decision import Action
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.domain.load import LoadTotals
from chalicelib.domain.tick_report import ActionReport, LoadReport, TickReport

AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def acted(
    verb: str,
    provider: str,
    reason: str,
    outcome: Outcome | None = Outcome.DONE,
    detail: str = "",
    *,
    count: int | None = None,
    server: str | None = None,
    hold: HoldKind | None = None,
) -> ActionReport:
    """An action and what became of it (`outcome` None: not carried out)."""
    return ActionReport(Action(verb, provider, reason, count, server, hold=hold), outcome, detail, hold)


def tick_report(*actions: ActionReport, **fields) -> TickReport:
    """An acting tick at AT with `actions`; `fields` overrides TickReport's (desired, unmet_servers...)."""
    base: dict = {"at": AT, "dry_run": False, "load": None, "desired": {}, "fleet": {}, "version": "test"}
    return TickReport(actions=actions, **{**base, **fields})


def load(participants: int, meetings: int, units: float) -> LoadReport:
    return LoadReport(LoadTotals(meetings=meetings, participants=participants), units)
