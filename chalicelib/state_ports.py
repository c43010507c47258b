"""The state ports of what the services keep between ticks: one small port per concern, each with one
writer (issue 21). Before, these facts travelled through the operator's `SettingsStore` under string
keys that fourteen modules read and wrote; now each has a typed value (chalicelib/domain/kept.py) and
named methods, and `SettingsStore` keeps the operator's settings only.

Every StateStore (memory, SQLite, DynamoDB) offers each of them (chalicelib/adapters/state/kept.py);
the contract suite tests/contract/test_kept_state.py holds them to the same behaviour. A method said
to be atomic reads and writes in one step under the store's write lock (SQLite, memory) or one
conditional write retried (DynamoDB), so two processes (the guard and a tick) lose nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from chalicelib.domain.kept import (
    DesiredAt,
    DirectReads,
    GuardCordon,
    GuardHealth,
    GuardRun,
    LoadReading,
    ProviderFailure,
    TrendPoint,
)
from chalicelib.domain.rooms import RoomSizes

#: The most unreported guard lines kept: when no tick takes them (the tick stopped), the oldest go.
UNREPORTED_MAX = 50


class GuardLedger(Protocol):
    """What the burst guard hands the capacity check. Written by the guard (service/guard*.py); the
    tick reads the cordons (its reconciliation tells them from drains), enables the expired ones
    (service/guard_state.py `release_expired`, the one other writer of the cordons) and takes the
    report lines once for its report and chat digest."""

    def cordons(self) -> dict[str, GuardCordon]:
        """The cordons the guard made and has not undone, by Scalelite id (a fresh copy)."""

    def keep_cordons(self, held: dict[str, GuardCordon]) -> None:
        """Replace the held cordons with `held`."""

    def report(self, lines: list[str]) -> None:
        """Append lines for the next tick's report (atomic; the newest UNREPORTED_MAX are kept)."""

    def take_unreported(self) -> list[str]:
        """The lines appended since the last take, oldest first, and clear them (atomic: two takers
        never both get a line, and a line appended meanwhile is never lost)."""


class GuardReadings(Protocol):
    """What the guard measured, for `status` and the tick's metrics. Written by the guard only."""

    def note_spread(self, document: dict) -> None:
        """The spread of the last burst (its JSON document, with `at`): kept for `status`, and once
        for the next tick's report."""

    def take_spread(self) -> dict | None:
        """The spread noted since the last take, once (atomic), or None."""

    def last_spread(self) -> dict | None:
        """The spread of the last burst, or None."""

    def health(self) -> GuardHealth:
        """The guard's failed looks so far (zero when none was ever noted)."""

    def note_health(self, health: GuardHealth) -> None: ...


class GuardRuns(Protocol):
    """The capacity check's record of the guard function runs it starts on AWS (service/guard_function.py
    writes and reads it; nothing else does)."""

    def last_run(self) -> GuardRun | None: ...
    def note_run(self, run: GuardRun) -> None: ...
    def last_load(self) -> LoadReading | None: ...
    def note_load(self, reading: LoadReading) -> None: ...


class TickMemory(Protocol):
    """The desired counts of the recent acting ticks. Written by the tick (service/tick.py); read by
    observe (scale-down waits until the stabilization window is covered) and by `bbbscale run`'s lease
    loop (run.py: whether another process finished this interval's tick)."""

    def remember(self, decided: DesiredAt, since: datetime) -> None:
        """Append `decided` and forget what was decided before `since`."""

    def recent(self) -> tuple[DesiredAt, ...]:
        """What is remembered, oldest first."""


class RoomMemory(Protocol):
    """What each room weighed (chalicelib/domain/rooms.py). Written by the tick now and then
    (service/room_memory.py); read by the burst guard for its projections."""

    def sizes(self, default_units: float) -> RoomSizes:
        """The kept sizes (empty at first), with `default_units` for a room never seen."""

    def keep(self, sizes: RoomSizes) -> None: ...


class ProviderFailures(Protocol):
    """Provider failures in a row and their backoff. Written by the actuator; read by observe for the
    planner (a backed-off provider's share moves to the next)."""

    def failures(self) -> dict[str, ProviderFailure]: ...
    def failed(self, provider: str, failure: ProviderFailure) -> None: ...
    def recovered(self, provider: str) -> None:
        """Forget the provider's failures (a call succeeded)."""


class MeetingsRoute(Protocol):
    """Where the ticks read the load while Scalelite's getMeetings times out (service/observe.py writes
    and reads it; `status` shows it): None, Scalelite's getMeetings as usual."""

    def direct(self) -> DirectReads | None: ...
    def keep_direct(self, route: DirectReads | None) -> None: ...


class ClosureLedger(Protocol):
    """Closure reservations cancelled recently (service/closures.py writes and reads it): a request
    signed before its id was cancelled is a replay, refused."""

    def cancelled_at(self, reservation_id: str) -> int | None:
        """Unix seconds of the id's cancel, if remembered."""

    def note_cancel(self, reservation_id: str, at: int, forget_before: int) -> None:
        """Remember the cancel at `at` (unix seconds); forget those before `forget_before`."""


class LoadHistory(Protocol):
    """The load bbbscale measured, per local day and 5-minute slot (the maximum), and today's trend.
    The forecaster (service/forecasting.py) writes and reads it."""

    def slots(self, day: date) -> dict[int, float]:
        """Minute of the day a slot starts -> the highest load measured in it, on `day`."""

    def raise_slot(self, day: date, minute: int, units: float) -> bool:
        """Keep `units` as the slot's maximum if higher than what is kept (atomic); True when kept."""

    def trend(self) -> list[TrendPoint]: ...
    def keep_trend(self, points: list[TrendPoint]) -> None: ...


class AnnouncedNotices(Protocol):
    """What the chat was last told, so a repeated fact is not announced every minute (service/notify.py
    writes and reads it)."""

    def stuck_drains(self) -> list[str]: ...
    def keep_stuck_drains(self, servers: list[str]) -> None: ...
    def shortfall(self) -> int: ...
    def keep_shortfall(self, servers: int) -> None: ...
    def load_reading(self) -> str:
        """How the last announced tick read the load: "" (Scalelite's getMeetings), "servers" (each
        server's own) or "unknown"."""

    def keep_load_reading(self, reading: str) -> None: ...
