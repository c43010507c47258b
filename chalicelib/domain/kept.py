"""What the services keep between ticks, as typed values (pure): each kind has one writer, and the
state ports of chalicelib/state_ports.py carry it (issue 21: no fact travels through a string-keyed
settings map any more; the operator's settings stay apart, chalicelib/domain/overrides.py).

Times are tz-aware datetimes here; the stores write them as ISO-8601 text in the same JSON shapes as
before these types existed, so a state file written by an older version reads back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, TypedDict


class GuardCordon(TypedDict, total=False):
    """One server the burst guard cordoned (by Scalelite id in the guard's ledger). `name` the server,
    `at` when the cordon was sent, `reason` why, `until` its expiry (a live guard renews it; the tick
    enables what no guard renewed), `released` when the guard enabled it again (then watched a few
    minutes in case a poll undoes it; no `until`). ISO-8601 texts.

    A TypedDict, not a frozen record, on purpose: the guard edits its held cordons in place within one
    look (service/guard.py, service/guard_changes.py), and the guard's own per-server state is being
    reworked apart from this change (issue 19); the type names the fields without moving that code."""

    name: str
    at: str
    reason: str
    until: str
    released: str


@dataclass(frozen=True, slots=True)
class GuardHealth:
    """The guard's failed looks so far (a look skipped on an error) and the last error: `status` shows
    it. Written by the guard only."""

    failed_looks: int = 0
    last_failure: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GuardRun:
    """The guard function run started last (on AWS): its id, when it ends and when it was started.
    Written by the capacity check that starts it; read by the next check to see whether a run covers
    the time after the handover. `run` is "" for a run an older version recorded (only its end)."""

    until: datetime
    run: str = ""
    started: datetime | None = None


class LoadReading(NamedTuple):
    """The capacity check's measured load at a time: the next check compares, to see a surge."""

    at: datetime
    units: float


class DesiredAt(NamedTuple):
    """The desired servers per provider one acting tick decided at `at` (the tick's memory: scale-down
    waits until the stabilization window is covered; `bbbscale run` reads the newest to learn whether
    another process ticked this interval)."""

    at: datetime
    desired: dict[str, int]


@dataclass(frozen=True, slots=True)
class ProviderFailure:
    """Failures of one provider in a row (the actuator's record): after `failures_before_backoff` the
    planner skips it `until` then (exponential backoff); `last` is the last error, one line."""

    count: int
    until: datetime | None = None
    last: str = ""


@dataclass(frozen=True, slots=True)
class DirectReads:
    """Scalelite's getMeetings timed out (`since` the first time, `at` the last; `why`, one line): until
    `until` the ticks read each server's own getMeetings without asking Scalelite first."""

    since: datetime
    at: datetime
    until: datetime
    why: str = ""

    def holds(self, now: datetime) -> bool:
        """Whether the ticks still go to the servers first at `now`."""
        return self.until > now

    def as_json(self) -> dict:
        return {
            "since": self.since.isoformat(),
            "at": self.at.isoformat(),
            "until": self.until.isoformat(),
            "why": self.why,
        }


class TrendPoint(NamedTuple):
    """One tick's measured load over what the history expected around then (the forecast's trend)."""

    at: datetime
    ratio: float
