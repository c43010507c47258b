"""The forecast service meeting a surge on a day it has never seen, on real state stores (SQLite and
memory): what ticks record, a new instance (a cold Lambda) forecasts from; borrowed history, cold start and
today's trend together."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.adapters.state.sqlite import SqliteStateStore
from chalicelib.config_file import load_settings
from chalicelib.domain.forecast import WeekdayCalendar
from chalicelib.service.demand import lead_minutes, reservation_units
from chalicelib.service.forecasting import Forecaster

PARIS = ZoneInfo("Europe/Paris")
MONDAY = date(2026, 11, 30)
THURSDAY = MONDAY + timedelta(days=3)
SCHOOL = WeekdayCalendar()
SETTINGS = load_settings()
LEVELS = {"08:00": 6000.0, "09:00": 9000.0, "10:00": 12000.0}  # a morning's classes, 50 minutes each


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), tzinfo=PARIS)


def morning(factor: float = 1.0) -> list[tuple[str, float]]:
    """(HH:MM, units) each minute from 07:30 to 11:59, each class at `factor` times LEVELS."""
    loads = []
    for minute in range(7 * 60 + 30, 12 * 60):
        hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
        start = f"{minute // 60:02d}:00"
        loads.append((hhmm, LEVELS.get(start, 0.0) * factor if minute % 60 < 50 else 0.0))
    return loads


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryStateStore(cluster="t")
        return
    state = SqliteStateStore(str(tmp_path / "state.sqlite3"), cluster="t")
    yield state
    state.close()


def with_forecast(**changes):
    return SETTINGS.model_copy(update={"forecast": SETTINGS.forecast.model_copy(update=changes)})


def record_days(store, days: list[date], settings=SETTINGS) -> None:
    recorder = Forecaster(settings, store=store, calendar=SCHOOL)
    for day in days:
        for hhmm, units in morning():
            recorder.record(at(day, hhmm), units)


def test_a_thursday_never_seen_is_forecast_from_the_other_school_days(store):
    record_days(store, [MONDAY, MONDAY + timedelta(days=1)])  # Monday and Tuesday recorded
    units, why = Forecaster(SETTINGS, store=store, calendar=SCHOOL)(at(THURSDAY, "07:40"))
    assert units == pytest.approx(6000.0)
    assert "08:00 class slot" in why and "no Thursdays yet, other school days" in why
    assert "Wednesday afternoons aside" in why


def test_a_doubling_at_eight_raises_the_nine_oclock_slot_before_its_lead(store):
    record_days(store, [MONDAY, MONDAY + timedelta(days=1)])
    live = Forecaster(SETTINGS, store=store, calendar=SCHOOL)
    lead = lead_minutes(SETTINGS) + SETTINGS.forecast.timetable.margin_minutes
    ready_by = at(THURSDAY, "09:00") - timedelta(minutes=lead)  # when the 09:00 slot must be asked for
    now = at(THURSDAY, "07:30")
    while now <= ready_by:
        hhmm = now.strftime("%H:%M")
        live(now)  # the tick forecasts, then records what it measured
        live.record(now, dict(morning(2.0))[hhmm])
        now += timedelta(minutes=1)
    cold = Forecaster(SETTINGS, store=store, calendar=SCHOOL)  # the next tick, on another Lambda
    units, why = cold(ready_by)
    assert units == pytest.approx(2 * 9000.0)  # capacity for twice the 09:00 class, a lead time ahead
    assert "09:00 class slot" in why and "x2.00: today runs above the history" in why
    # Without borrowing (the old per-weekday history) Thursday knew nothing: no trend, nothing ahead.
    store.load_history.keep_trend([])
    old = Forecaster(with_forecast(min_history_days=0, cold_start_users=0), store=store, calendar=SCHOOL)
    for minute in range(25):
        old.record(at(THURSDAY, "08:00") + timedelta(minutes=minute), 12000.0)
    assert old(ready_by)[0] == 0.0


def test_a_fresh_store_starts_cold_from_the_timetable_and_sees_a_surge(store):
    fresh = Forecaster(SETTINGS, store=store, calendar=SCHOOL)
    expected = reservation_units(SETTINGS.forecast.cold_start_users, SETTINGS)
    units, why = fresh(at(MONDAY, "07:40"))
    assert units == pytest.approx(expected)
    assert why.startswith("forecast: no history yet: timetable: 08:00 class slot in 20 min")
    assert fresh(at(MONDAY, "07:00"))[0] == 0.0  # nothing before the lead
    for minute in range(20):  # the first class runs at 1.5 times the cold-start figure
        fresh.record(at(MONDAY, "08:00") + timedelta(minutes=minute), 1.5 * expected)
    units, why = Forecaster(SETTINGS, store=store, calendar=SCHOOL)(at(MONDAY, "08:25"))
    assert units == pytest.approx(1.5 * expected) and "x1.50" in why
    # Switched off: no history means no forecast, as before.
    assert (
        Forecaster(with_forecast(cold_start_users=0), store=store, calendar=SCHOOL)(at(MONDAY, "07:40"))[0]
        == 0.0
    )


def test_per_slot_cold_start_figures_from_the_configuration(store):
    settings = with_forecast(cold_start_users=3000, cold_start_slots={"08:00": 600})
    fresh = Forecaster(settings, store=store, calendar=SCHOOL)
    assert fresh(at(MONDAY, "07:40"))[0] == pytest.approx(reservation_units(600, settings))
    assert fresh(at(MONDAY, "08:40"))[0] == pytest.approx(reservation_units(3000, settings))
