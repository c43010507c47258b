"""The state ports of chalicelib/state_ports.py, written once over a backend's `Cells`: JSON values by
key, with an atomic read-modify-write. Each backend (memory, SQLite, DynamoDB) supplies its cells and
`attach`es these to its store, so the three keep the same values in the same shapes.

The keys and JSON shapes are those the settings map held before issue 21 (`guard_cordons`,
`recent_desired`, `load_slots:<date>`, ...), in the same table or partition: a state file or table
written by an older version reads back unchanged, and needs no migration.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

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
from chalicelib.state_ports import UNREPORTED_MAX

Result = TypeVar("Result")
#: What a `change` step returns as the new value to write nothing.
KEEP: Any = object()

GUARD_CORDONS = "guard_cordons"
GUARD_UNREPORTED = "guard_unreported"
GUARD_SPREAD = "guard_spread"
SPREAD_UNREPORTED = "guard_spread_unreported"
GUARD_HEALTH = "guard_health"
GUARD_RUNNING = "guard_running_until"
LAST_LOAD = "guard_last_load"
RECENT_DESIRED = "recent_desired"
ROOM_SIZES = "room_sizes"
BACKOFF = "provider_failures"
CANCELLED = "closures:cancelled"
SAMPLES_PREFIX = "load_slots:"  # + local date
TREND = "forecast_trend"
ANNOUNCED_STUCK = "notify_stuck_drains"
ANNOUNCED_SHORTFALL = "notify_quota_shortfall"
ANNOUNCED_READING = "notify_load_reading"
MEETINGS_DIRECT = "scalelite_meetings_direct"


class Cells(Protocol):
    """A backend's JSON values by key (`read` gives `default` for a key never written), the operator's
    settings among them (SettingsStore reaches only those, records.check_setting)."""

    def read(self, key: str, default: Any = None) -> Any: ...
    def write(self, key: str, value: Any) -> None: ...
    def change(self, key: str, step: Callable[[Any], tuple[Any, Result]]) -> Result:
        """Read the value, write `step(value)[0]` (unless KEEP) and return `step(value)[1]`, as one
        step: no other write comes between the read and the write."""


def _when(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


class KeptGuardLedger:
    def __init__(self, cells: Cells):
        self._c = cells

    def cordons(self) -> dict[str, GuardCordon]:
        value = self._c.read(GUARD_CORDONS)
        return value if isinstance(value, dict) else {}

    def keep_cordons(self, held: dict[str, GuardCordon]) -> None:
        self._c.write(GUARD_CORDONS, held)

    def report(self, lines: list[str]) -> None:
        if lines:
            self._c.change(GUARD_UNREPORTED, lambda kept: ([*(kept or []), *lines][-UNREPORTED_MAX:], None))

    def take_unreported(self) -> list[str]:
        return self._c.change(GUARD_UNREPORTED, lambda kept: ([] if kept else KEEP, list(kept or [])))


class KeptGuardReadings:
    def __init__(self, cells: Cells):
        self._c = cells

    def note_spread(self, document: dict) -> None:
        self._c.write(GUARD_SPREAD, document)
        self._c.write(SPREAD_UNREPORTED, document)

    def take_spread(self) -> dict | None:
        return self._c.change(SPREAD_UNREPORTED, lambda found: (None if found else KEEP, found or None))

    def last_spread(self) -> dict | None:
        return self._c.read(GUARD_SPREAD) or None

    def health(self) -> GuardHealth:
        found = self._c.read(GUARD_HEALTH) or {}
        return GuardHealth(
            int(found.get("failed_looks", 0)), found.get("last_failure"), _when(found.get("at"))
        )

    def note_health(self, health: GuardHealth) -> None:
        at = health.at.isoformat() if health.at else None
        self._c.write(
            GUARD_HEALTH, {"failed_looks": health.failed_looks, "last_failure": health.last_failure, "at": at}
        )


class KeptGuardRuns:
    def __init__(self, cells: Cells):
        self._c = cells

    def last_run(self) -> GuardRun | None:
        found = self._c.read(GUARD_RUNNING)
        if isinstance(found, str):  # an older version's record: the run's end only
            until = _when(found)
            return GuardRun(until) if until else None
        until = _when(found.get("until")) if isinstance(found, dict) else None
        if until is None:
            return None
        return GuardRun(until, str(found.get("run") or ""), _when(found.get("started")))

    def note_run(self, run: GuardRun) -> None:
        started = run.started.isoformat() if run.started else None
        self._c.write(GUARD_RUNNING, {"run": run.run, "until": run.until.isoformat(), "started": started})

    def last_load(self) -> LoadReading | None:
        found = self._c.read(LAST_LOAD)
        if not isinstance(found, list) or len(found) != 2 or _when(found[0]) is None:
            return None
        return LoadReading(datetime.fromisoformat(found[0]), float(found[1]))

    def note_load(self, reading: LoadReading) -> None:
        self._c.write(LAST_LOAD, [reading.at.isoformat(), reading.units])


class KeptTickMemory:
    def __init__(self, cells: Cells):
        self._c = cells

    def remember(self, decided: DesiredAt, since: datetime) -> None:
        def step(kept):
            recent = [[t, d] for t, d in (kept or []) if datetime.fromisoformat(t) >= since]
            return [*recent, [decided.at.isoformat(), decided.desired]], None

        self._c.change(RECENT_DESIRED, step)

    def recent(self) -> tuple[DesiredAt, ...]:
        return tuple(DesiredAt(datetime.fromisoformat(t), d) for t, d in (self._c.read(RECENT_DESIRED) or []))


class KeptRoomMemory:
    def __init__(self, cells: Cells):
        self._c = cells

    def sizes(self, default_units: float) -> RoomSizes:
        return RoomSizes.from_json(self._c.read(ROOM_SIZES), default_units)

    def keep(self, sizes: RoomSizes) -> None:
        self._c.write(ROOM_SIZES, sizes.as_json())


class KeptProviderFailures:
    def __init__(self, cells: Cells):
        self._c = cells

    def failures(self) -> dict[str, ProviderFailure]:
        return {
            provider: ProviderFailure(int(v.get("count", 0)), _when(v.get("until")), str(v.get("last", "")))
            for provider, v in (self._c.read(BACKOFF) or {}).items()
        }

    def failed(self, provider: str, failure: ProviderFailure) -> None:
        entry: dict = {"count": failure.count, "last": failure.last[:200]}
        if failure.until is not None:
            entry["until"] = failure.until.isoformat()
        self._c.change(BACKOFF, lambda table: ({**(table or {}), provider: entry}, None))

    def recovered(self, provider: str) -> None:
        if provider not in (self._c.read(BACKOFF) or {}):  # the common case: one read, no write lock
            return

        def step(table):
            if not table or provider not in table:
                return KEEP, None
            return {p: v for p, v in table.items() if p != provider}, None

        self._c.change(BACKOFF, step)


class KeptMeetingsRoute:
    def __init__(self, cells: Cells):
        self._c = cells

    def direct(self) -> DirectReads | None:
        kept = self._c.read(MEETINGS_DIRECT)
        if not isinstance(kept, dict):
            return None
        since, at, until = _when(kept.get("since")), _when(kept.get("at")), _when(kept.get("until"))
        if since is None or at is None or until is None:
            return None
        return DirectReads(since, at, until, str(kept.get("why", "")))

    def keep_direct(self, route: DirectReads | None) -> None:
        self._c.write(MEETINGS_DIRECT, route.as_json() if route else None)


class KeptClosureLedger:
    def __init__(self, cells: Cells):
        self._c = cells

    def cancelled_at(self, reservation_id: str) -> int | None:
        return (self._c.read(CANCELLED) or {}).get(reservation_id)

    def note_cancel(self, reservation_id: str, at: int, forget_before: int) -> None:
        def step(table):
            kept = {rid: when for rid, when in (table or {}).items() if when >= forget_before}
            return {**kept, reservation_id: at}, None

        self._c.change(CANCELLED, step)


class KeptLoadHistory:
    def __init__(self, cells: Cells):
        self._c = cells

    def slots(self, day: date) -> dict[int, float]:
        found = self._c.read(f"{SAMPLES_PREFIX}{day.isoformat()}") or {}
        return {int(minute): float(units) for minute, units in found.items()}

    def raise_slot(self, day: date, minute: int, units: float) -> bool:
        def step(kept):
            slots = dict(kept or {})
            if units <= slots.get(str(minute), -1.0):
                return KEEP, False
            slots[str(minute)] = round(units, 1)
            return slots, True

        return self._c.change(f"{SAMPLES_PREFIX}{day.isoformat()}", step)

    def trend(self) -> list[TrendPoint]:
        return [TrendPoint(datetime.fromisoformat(at), float(r)) for at, r in (self._c.read(TREND) or [])]

    def keep_trend(self, points: list[TrendPoint]) -> None:
        self._c.write(TREND, [[p.at.isoformat(), round(p.ratio, 4)] for p in points])


class KeptAnnouncements:
    def __init__(self, cells: Cells):
        self._c = cells

    def stuck_drains(self) -> list[str]:
        return list(self._c.read(ANNOUNCED_STUCK) or [])

    def keep_stuck_drains(self, servers: list[str]) -> None:
        self._c.write(ANNOUNCED_STUCK, servers)

    def shortfall(self) -> int:
        return int(self._c.read(ANNOUNCED_SHORTFALL) or 0)

    def keep_shortfall(self, servers: int) -> None:
        self._c.write(ANNOUNCED_SHORTFALL, servers)

    def load_reading(self) -> str:
        return str(self._c.read(ANNOUNCED_READING) or "")

    def keep_load_reading(self, reading: str) -> None:
        self._c.write(ANNOUNCED_READING, reading)


def attach(store: Any, cells: Cells) -> None:
    """Give `store` each state port, over `cells`."""
    store.guard_ledger = KeptGuardLedger(cells)
    store.guard_readings = KeptGuardReadings(cells)
    store.guard_runs = KeptGuardRuns(cells)
    store.tick_memory = KeptTickMemory(cells)
    store.room_memory = KeptRoomMemory(cells)
    store.provider_failures = KeptProviderFailures(cells)
    store.closures = KeptClosureLedger(cells)
    store.meetings_route = KeptMeetingsRoute(cells)
    store.load_history = KeptLoadHistory(cells)
    store.announced = KeptAnnouncements(cells)
