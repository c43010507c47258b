"""The forecast service on a real state store: what one tick records, the next (maybe on a cold Lambda)
forecasts from; and today's trend raising the forecast when the day runs above the history."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.adapters.state.sqlite import SqliteStateStore
from chalicelib.config_file import load_settings
from chalicelib.domain.forecast import WeekdayCalendar
from chalicelib.service.forecasting import Forecaster

PARIS = ZoneInfo("Europe/Paris")
MONDAY = date(2026, 11, 30)
SCHOOL = WeekdayCalendar()


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), tzinfo=PARIS)


def class_day(level: float) -> list[tuple[str, float]]:
    """A morning: 10:00-10:50 at `level`, then a quieter 11:00 class at half of it."""
    loads = []
    for minute in range(9 * 60 + 50, 12 * 60):
        hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
        if 10 * 60 <= minute < 10 * 60 + 50:
            loads.append((hhmm, level))
        elif 11 * 60 <= minute < 11 * 60 + 50:
            loads.append((hhmm, level / 2))
        else:
            loads.append((hhmm, 0.0))
    return loads


@pytest.fixture
def store(tmp_path):
    state = SqliteStateStore(str(tmp_path / "state.sqlite3"), cluster="t")
    yield state
    state.close()


def learned(store, settings=None) -> Forecaster:
    """A forecaster whose store recorded three past Mondays, each tick as the real loop records it."""
    settings = settings or load_settings()
    recorder = Forecaster(settings, store=store, calendar=SCHOOL)
    for weeks in (3, 2, 1):
        for hhmm, units in class_day(9000.0):
            recorder.record(at(MONDAY - timedelta(weeks=weeks), hhmm), units)
    return Forecaster(settings, store=store, calendar=SCHOOL)  # a new instance: a cold start


def test_a_cold_forecaster_forecasts_from_what_earlier_ticks_recorded(store):
    forecaster = learned(store)
    units, why = forecaster(at(MONDAY, "09:40"))
    assert units == pytest.approx(9000.0)
    assert "10:00 class slot" in why and "last 3 Mondays" in why
    # Five minutes before the quieter 11:00 class, the 10:00 class's peak is no longer expected: the
    # surplus can be let go before the next rooms are spread over it.
    units, why = forecaster(at(MONDAY, "10:55"))
    assert units == pytest.approx(4500.0)


def test_a_day_above_the_history_raises_the_forecast_and_says_so(store):
    forecaster = learned(store)
    plain, _ = forecaster(at(MONDAY, "10:20"))
    for minute in range(20):  # today the 10:00 class is 1.5 times last weeks'
        forecaster.record(at(MONDAY, "10:00") + timedelta(minutes=minute), 13500.0)
    raised, why = forecaster(at(MONDAY, "10:20"))
    assert raised == pytest.approx(plain * 1.5)
    assert "x1.50: today runs above the history" in why
    # Persisted: the next tick may run on another Lambda instance.
    again, _ = Forecaster(load_settings(), store=store, calendar=SCHOOL)(at(MONDAY, "10:20"))
    assert again == pytest.approx(raised)
    # An hour later the ratio has aged out.
    later, why = forecaster(at(MONDAY, "11:25"))
    assert "above the history" not in why


def test_the_trend_is_capped_never_lowers_and_can_be_switched_off(store):
    base = load_settings()
    capped = base.model_copy(update={"forecast": base.forecast.model_copy(update={"max_trend_factor": 1.2})})
    forecaster = learned(store, capped)
    plain, _ = forecaster(at(MONDAY, "10:20"))
    forecaster.record(at(MONDAY, "10:10"), 27000.0)  # three times the history
    assert forecaster(at(MONDAY, "10:20"))[0] == pytest.approx(plain * 1.2)

    off = base.model_copy(update={"forecast": base.forecast.model_copy(update={"max_trend_factor": 1.0})})
    quiet = Forecaster(off, store=store, calendar=SCHOOL)
    store.load_history.keep_trend([])
    quiet.record(at(MONDAY, "10:10"), 27000.0)
    assert quiet(at(MONDAY, "10:20"))[0] == pytest.approx(plain)

    lower = Forecaster(base, store=store, calendar=SCHOOL)
    lower.record(at(MONDAY, "10:12"), 3000.0)  # a third of the history: the forecast keeps last weeks'
    assert lower(at(MONDAY, "10:20"))[0] == pytest.approx(plain)
