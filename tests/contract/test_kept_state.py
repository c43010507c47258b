"""The state ports of what the services keep between ticks (chalicelib/state_ports.py): memory, SQLite
and DynamoDB (on moto's server) behave identically; a state an older version wrote reads back; the
guard's report lines reach the tick exactly once whoever interleaves; the settings store takes the
operator's settings only."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.adapters.state.records import RecordError
from chalicelib.domain.kept import (
    DesiredAt,
    DirectReads,
    GuardHealth,
    GuardRun,
    LoadReading,
    ProviderFailure,
    TrendPoint,
)
from chalicelib.domain.rooms import RoomSizes
from chalicelib.state_ports import UNREPORTED_MAX

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
_lines = itertools.count(1)


# --- the guard's ledger and readings ---------------------------------------------------------------
def test_the_guard_cordons_round_trip_and_are_a_fresh_copy(open_handle):
    store, other = open_handle(), open_handle()
    assert store.guard_ledger.cordons() == {}
    held = {"7": {"name": "bbb-7", "at": T0.isoformat(), "reason": "herded", "until": T0.isoformat()}}
    store.guard_ledger.keep_cordons(held)
    read = other.guard_ledger.cordons()
    assert read == held
    read["7"]["released"] = "x"
    assert other.guard_ledger.cordons() == held, "what a caller edits is its own copy"


def test_report_lines_are_taken_once_oldest_first(open_handle):
    store, tick = open_handle(), open_handle()
    assert tick.guard_ledger.take_unreported() == []
    store.guard_ledger.report(["cordon bbb-1: herded"])
    store.guard_ledger.report([])
    store.guard_ledger.report(["enable bbb-1: room again", "a look failed"])
    assert tick.guard_ledger.take_unreported() == [
        "cordon bbb-1: herded",
        "enable bbb-1: room again",
        "a look failed",
    ]
    assert tick.guard_ledger.take_unreported() == [] and store.guard_ledger.take_unreported() == []


def test_unreported_lines_keep_the_newest_when_no_tick_takes_them(store):
    store.guard_ledger.report([f"line {n}" for n in range(UNREPORTED_MAX + 7)])
    assert store.guard_ledger.take_unreported() == [f"line {n}" for n in range(7, UNREPORTED_MAX + 7)]


def test_the_spread_is_kept_for_status_and_taken_once_for_the_report(open_handle):
    store, tick = open_handle(), open_handle()
    assert tick.guard_readings.take_spread() is None and tick.guard_readings.last_spread() is None
    document = {"at": T0.isoformat(), "rooms_cv": 0.25, "servers": 12}
    store.guard_readings.note_spread(document)
    assert tick.guard_readings.take_spread() == document
    assert tick.guard_readings.take_spread() is None
    assert tick.guard_readings.last_spread() == document


def test_the_guard_health_round_trips(open_handle):
    store = open_handle()
    assert store.guard_readings.health() == GuardHealth()
    store.guard_readings.note_health(GuardHealth(3, "UnreachableError: Scalelite", T0))
    assert open_handle().guard_readings.health() == GuardHealth(3, "UnreachableError: Scalelite", T0)


def test_the_guard_runs_and_the_last_load_round_trip(open_handle):
    store = open_handle()
    assert store.guard_runs.last_run() is None and store.guard_runs.last_load() is None
    run = GuardRun(T0 + timedelta(minutes=14), "abc123", T0)
    store.guard_runs.note_run(run)
    store.guard_runs.note_load(LoadReading(T0, 1234.5))
    again = open_handle()
    assert again.guard_runs.last_run() == run and again.guard_runs.last_load() == (T0, 1234.5)


# --- the tick's memory, rooms, failures, closures, load history, announcements -------------------
def test_the_tick_memory_keeps_the_window_oldest_first(open_handle):
    store = open_handle()
    assert store.tick_memory.recent() == ()
    for minute in range(4):
        at = T0 + timedelta(minutes=minute)
        store.tick_memory.remember(DesiredAt(at, {"gandi": minute}), since=at - timedelta(minutes=2))
    assert open_handle().tick_memory.recent() == tuple(
        DesiredAt(T0 + timedelta(minutes=m), {"gandi": m}) for m in (1, 2, 3)
    )


def test_room_sizes_round_trip(store):
    assert store.room_memory.sizes(40.0).rooms == {}
    sizes = RoomSizes(40.0)
    sizes.learn("class-6b", 1_700_000_000_000, 38.5, "08:00")
    store.room_memory.keep(sizes)
    back = store.room_memory.sizes(40.0)
    assert back.as_json() == sizes.as_json()


def test_provider_failures_are_kept_until_recovered(open_handle):
    store = open_handle()
    store.provider_failures.recovered("gandi")  # none yet: nothing happens
    store.provider_failures.failed("gandi", ProviderFailure(3, T0, "quota exceeded"))
    store.provider_failures.failed("ikoula", ProviderFailure(1, None, "timeout"))
    assert open_handle().provider_failures.failures() == {
        "gandi": ProviderFailure(3, T0, "quota exceeded"),
        "ikoula": ProviderFailure(1, None, "timeout"),
    }
    store.provider_failures.recovered("gandi")
    assert list(store.provider_failures.failures()) == ["ikoula"]


def test_cancelled_closures_are_remembered_then_forgotten(store):
    assert store.closures.cancelled_at("r1") is None
    store.closures.note_cancel("r1", 1000, forget_before=0)
    store.closures.note_cancel("r2", 2000, forget_before=1500)
    assert store.closures.cancelled_at("r1") is None and store.closures.cancelled_at("r2") == 2000


def test_a_slot_keeps_its_highest_load(open_handle):
    store, day = open_handle(), date(2026, 11, 23)
    assert store.load_history.slots(day) == {}
    assert store.load_history.raise_slot(day, 480, 1000.04) is True
    assert store.load_history.raise_slot(day, 480, 900.0) is False
    assert store.load_history.raise_slot(day, 485, 50.0) is True
    assert open_handle().load_history.slots(day) == {480: 1000.0, 485: 50.0}
    assert store.load_history.slots(date(2026, 11, 24)) == {}


def test_the_trend_round_trips(store):
    assert store.load_history.trend() == []
    store.load_history.keep_trend([TrendPoint(T0, 1.31234), TrendPoint(T0 + timedelta(minutes=1), 1.5)])
    assert store.load_history.trend() == [TrendPoint(T0, 1.3123), TrendPoint(T0 + timedelta(minutes=1), 1.5)]


def test_announcements_round_trip(store):
    assert store.announced.stuck_drains() == [] and store.announced.shortfall() == 0
    store.announced.keep_stuck_drains(["bbb-3", "bbb-9"])
    store.announced.keep_shortfall(4)
    assert store.announced.stuck_drains() == ["bbb-3", "bbb-9"] and store.announced.shortfall() == 4
    assert store.announced.load_reading() == ""
    store.announced.keep_load_reading("servers")
    assert store.announced.load_reading() == "servers"


def test_the_meetings_route_round_trips_and_is_forgotten(open_handle):
    store = open_handle()
    assert store.meetings_route.direct() is None
    route = DirectReads(T0, T0 + timedelta(minutes=31), T0 + timedelta(minutes=61), "read timeout")
    store.meetings_route.keep_direct(route)
    assert open_handle().meetings_route.direct() == route
    store.meetings_route.keep_direct(None)
    assert open_handle().meetings_route.direct() is None


# --- the operator's settings only ---------------------------------------------------------------------
@pytest.mark.parametrize("key", ["guard_cordons", "recent_desired", "load_slots:2026-11-23", "anything"])
def test_the_settings_store_refuses_what_is_not_an_operator_setting(store, key):
    store.guard_ledger.keep_cordons({"7": {"name": "bbb-7"}})
    with pytest.raises(RecordError, match="not an operator setting"):
        store.settings.put(key, {"7": {}})
    with pytest.raises(RecordError, match="not an operator setting"):
        store.settings.get(key, None)
    assert store.guard_ledger.cordons() == {"7": {"name": "bbb-7"}}, "nothing changed"
