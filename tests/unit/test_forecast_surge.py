"""A surge seen from the first class: history borrowed across school days (Wednesday afternoon aside), the
cold start with no history at all, today's trend measured against either; reservations still first."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib.config import ForecastSettings
from chalicelib.config_file import load_settings
from chalicelib.domain.decision import Demand, Observation
from chalicelib.domain.fleet import Fleet
from chalicelib.domain.forecast import ColdStart, LoadProfile, WeekdayCalendar, forecast_units
from chalicelib.domain.planner import need_units
from chalicelib.domain.trend import day_trend, expected_around, trend_ratio

PARIS = ZoneInfo("Europe/Paris")
WEEK = date(2026, 11, 16)  # a Monday: the history's week
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = (date(2026, 11, 23) + timedelta(days=d) for d in range(5))
SETTINGS = ForecastSettings()  # default timetable, margin 10 min, borrow below 1 day, Wednesday 12:00
SCHOOL = WeekdayCalendar()
COLD = ColdStart(25_000.0)


def at(day: date, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def day_load(day: date, slots: dict[str, float], length: int = 50) -> list[tuple[datetime, float]]:
    """Minute samples of one day: each 'HH:MM' start holds its units for `length` minutes."""
    samples = []
    for minute in range(7 * 60, 18 * 60):
        moment = at(day, f"{minute // 60:02d}:{minute % 60:02d}")
        units = 0.0
        for start, value in slots.items():
            if at(day, start) <= moment < at(day, start) + timedelta(minutes=length):
                units = value
        samples.append((moment, units))
    return samples


FULL = {"08:00": 10_000.0, "09:00": 20_000.0, "10:00": 30_000.0, "14:00": 12_000.0}
MORNING = {"08:00": 10_000.0, "09:00": 20_000.0, "10:00": 30_000.0, "14:00": 40_000.0}  # an odd Wed pm


def history(weekdays=(0, 1, 2), settings=SETTINGS) -> LoadProfile:
    """Mondays and Tuesdays as FULL; Wednesday's afternoon ran heavy once (a school trip's live stream)
    and must not be lent to other days; Thursdays and Fridays never seen."""
    samples = []
    for weekday in weekdays:
        samples += day_load(WEEK + timedelta(days=weekday), MORNING if weekday == 2 else FULL)
    return LoadProfile.from_samples(samples, PARIS, weeks=3).borrowing(settings)


@pytest.mark.parametrize(
    "day, hhmm, units, reason",
    [
        # Thursday never seen: the other school days' slot, their maximum.
        (
            THURSDAY,
            "07:40",
            10_000,
            "timetable: 08:00 class slot in 20 min, no Thursdays yet, other school days "
            "(Wednesday afternoons aside) peaked at 10,000 units",
        ),
        (THURSDAY, "09:40", 30_000, "timetable: 10:00 class slot in 20 min, no Thursdays yet"),
        # Its afternoon: Monday's and Tuesday's 14:00, not Wednesday afternoon's 40,000.
        (THURSDAY, "13:40", 12_000, "timetable: 14:00 class slot in 20 min, no Thursdays yet"),
        # A seen weekday keeps its own history, never borrows.
        (TUESDAY, "13:40", 12_000, "timetable: 14:00 class slot in 20 min, last Tuesday peaked at 12,000"),
        # Wednesday's own history: its afternoon is its own (no 14:00 slot in its timetable: history).
        (WEDNESDAY, "13:40", 40_000, "history: last Wednesday peaked at 40,000 units"),
    ],
)
def test_a_weekday_with_no_history_borrows_the_other_school_days(day, hhmm, units, reason):
    result = forecast_units(at(day, hhmm), SETTINGS, SCHOOL, history(), lead_minutes=10)
    assert result.units == pytest.approx(units)
    assert result.reason.startswith(reason)


def test_wednesday_afternoon_neither_lends_nor_borrows():
    no_wednesday = history(weekdays=(0, 1))
    wednesday = forecast_units(at(WEDNESDAY, "13:40"), SETTINGS, SCHOOL, no_wednesday, lead_minutes=10)
    morning = forecast_units(at(WEDNESDAY, "09:40"), SETTINGS, SCHOOL, no_wednesday, lead_minutes=10)
    assert morning.units == 30_000 and "no Wednesdays yet" in morning.reason
    assert no_wednesday.expected(at(WEDNESDAY, "14:10")) == 0  # Monday's 14:00 is not Wednesday's
    assert wednesday.units == 0
    # Another school whose Wednesday afternoon is a full one: no half days configured.
    full_week = ForecastSettings(half_days={})
    assert history(weekdays=(0, 2)).expected(at(THURSDAY, "14:10")) == 12_000  # Monday's alone
    assert history(weekdays=(0, 2), settings=full_week).expected(at(THURSDAY, "14:10")) == 40_000  # lent
    assert history(weekdays=(0, 1), settings=full_week).expected(at(WEDNESDAY, "14:10")) == 12_000


@pytest.mark.parametrize(
    "min_days, units, phrase",
    [
        (0, 0, "no history for Thursdays yet"),  # never borrows: the old per-weekday forecast
        (1, 10_000, "no Thursdays yet"),
    ],
)
def test_borrowing_can_be_switched_off(min_days, units, phrase):
    settings = ForecastSettings(min_history_days=min_days)
    result = forecast_units(at(THURSDAY, "07:40"), settings, SCHOOL, history(settings=settings), 10)
    assert result.units == units and phrase in result.reason


def test_too_little_history_takes_the_higher_of_its_own_and_the_borrowed():
    settings = ForecastSettings(min_history_days=2)
    samples = day_load(WEEK, FULL) + day_load(WEEK + timedelta(days=3), {"08:00": 4_000.0, "09:00": 50_000.0})
    profile = LoadProfile.from_samples(samples, PARIS, weeks=3).borrowing(settings)
    assert profile.borrows(3) and profile.borrows(0)  # Monday has 1 day < 2 as well
    assert profile.expected(at(THURSDAY, "08:10")) == 10_000  # Monday's, above its own 4,000
    assert profile.expected(at(THURSDAY, "09:10")) == 50_000  # its own, above Monday's 20,000
    reason = forecast_units(at(THURSDAY, "07:40"), settings, SCHOOL, profile, 10).reason
    assert "1 Thursday(s) only, other school days" in reason


def test_one_odd_day_is_not_lent_to_every_day_that_borrows():
    # Monday and Tuesday as usual, last Wednesday twice as busy (a closure nobody announced): a Thursday
    # never seen expects a usual day; if it runs heavy too, today's trend says so from its first class.
    samples = day_load(WEEK, FULL) + day_load(WEEK + timedelta(days=1), FULL)
    samples += day_load(WEEK + timedelta(days=2), {k: 2 * v for k, v in FULL.items()})
    profile = LoadProfile.from_samples(samples, PARIS, weeks=3).borrowing(SETTINGS)
    assert profile.expected(at(THURSDAY, "10:10")) == 30_000
    assert profile.expected(at(WEDNESDAY, "10:10")) == 60_000  # its own history stays its own


@hsettings(max_examples=40, deadline=None)
@given(
    loads=st.lists(st.floats(0, 50_000), min_size=5, max_size=5),
    weekday=st.integers(0, 4),
    minute=st.integers(7 * 60, 17 * 60),
)
def test_borrowing_never_lowers_a_weekday_below_its_own_history(loads, weekday, minute):
    samples = []
    for d, units in enumerate(loads):
        if d != 3:  # Thursdays never seen
            samples += day_load(WEEK + timedelta(days=d), {"08:00": units, "14:00": units / 2})
    plain = LoadProfile.from_samples(samples, PARIS, weeks=3)
    borrowing = plain.borrowing(ForecastSettings(min_history_days=3))
    now = at(MONDAY + timedelta(days=weekday), f"{minute // 60:02d}:{minute % 60:02d}")
    assert borrowing.expected(now) >= plain.expected(now)
    assert borrowing.day_peak(weekday) >= plain.day_peak(weekday)


@pytest.mark.parametrize(
    "day, hhmm, units, reason",
    [
        (MONDAY, "07:40", 25_000, "no history yet: timetable: 08:00 class slot in 20 min, 25,000 units"),
        (MONDAY, "07:10", 0, "no history yet, no class expected before 07:30"),
        (MONDAY, "08:30", 25_000, "no history yet: timetable: 08:00 class slot under way"),
        (MONDAY, "12:10", 0, "no history yet, no class expected before 12:30"),  # lunch
        (MONDAY, "12:40", 25_000, "no history yet: timetable: 13:00 class slot in 20 min"),
        (WEDNESDAY, "12:40", 0, "no history yet, no class expected"),  # no class Wednesday afternoon
        (date(2026, 11, 28), "07:40", 0, "no pre-warming: 2026-11-28 is a day off (Saturday)"),
    ],
)
def test_cold_start_expects_the_timetable_slots(day, hhmm, units, reason):
    empty = LoadProfile.empty(PARIS, 5).borrowing(SETTINGS)
    result = forecast_units(at(day, hhmm), SETTINGS, SCHOOL, empty, lead_minutes=10, cold_start=COLD)
    assert result.units == units
    assert result.reason.startswith(reason)


def test_cold_start_per_slot_figures_and_off():
    empty = LoadProfile.empty(PARIS, 5)
    per_slot = ColdStart(25_000.0, {"08:00": 9_000.0})
    assert (
        forecast_units(at(MONDAY, "07:40"), SETTINGS, SCHOOL, empty, 10, cold_start=per_slot).units == 9_000
    )
    assert (
        forecast_units(at(MONDAY, "08:40"), SETTINGS, SCHOOL, empty, 10, cold_start=per_slot).units == 25_000
    )
    off = forecast_units(at(MONDAY, "07:40"), SETTINGS, SCHOOL, empty, 10, cold_start=ColdStart(0.0))
    assert off.units == 0 and "no history yet" not in off.reason
    # Once one day is remembered, the history (borrowed) speaks, not the cold start.
    assert (
        forecast_units(at(THURSDAY, "07:40"), SETTINGS, SCHOOL, history(), 10, cold_start=COLD).units
        == 10_000
    )


@pytest.mark.parametrize(
    "profile, day, hhmm, measured, ratio",
    [
        ("history", MONDAY, "08:10", 20_000, 2.0),  # 08:00 ran at twice its 10,000
        ("history", THURSDAY, "08:10", 20_000, 2.0),  # a day never seen: against the borrowed history
        ("history", THURSDAY, "09:05", 20_000, 1.0),  # around 09:05 the 09:00 slot's 20,000 is expected
        ("history", MONDAY, "07:10", 3_000, None),  # dawn: nothing expected, no yardstick
        ("history", date(2026, 11, 28), "08:10", 20_000, None),  # a day off
        ("cold", MONDAY, "08:10", 50_000, 2.0),  # no history at all: against the timetable's figure
        ("cold", MONDAY, "12:20", 50_000, None),  # lunch: no slot under way
        ("none", MONDAY, "08:10", 50_000, None),  # no history and no cold start: nothing to compare
    ],
)
def test_trend_ratio_against_history_or_timetable(profile, day, hhmm, measured, ratio):
    chosen = {"history": history(), "cold": LoadProfile.empty(PARIS, 5), "none": LoadProfile.empty(PARIS, 5)}
    cold = COLD if profile == "cold" else None
    got = trend_ratio(at(day, hhmm), measured, SETTINGS, SCHOOL, chosen[profile], PARIS, cold)
    assert got == (pytest.approx(ratio) if ratio is not None else None)


def test_expected_around_looks_back_over_the_class_start():
    # At 09:03 the 09:00 slot has barely begun: the yardstick is the highest of the last 15 minutes.
    assert expected_around(at(MONDAY, "09:03"), SETTINGS, history(), PARIS) == (20_000, 30_000)
    cold = expected_around(at(MONDAY, "12:05"), SETTINGS, LoadProfile.empty(PARIS), PARIS, COLD)
    assert cold == (25_000, 25_000)  # the 11:00 slot ran until 12:00, inside the lookback
    # A part of the day under `min_share` of its expected peak is no yardstick (08:00's 10,000 of 30,000).
    assert trend_ratio(at(MONDAY, "08:10"), 20_000, SETTINGS, SCHOOL, history(), PARIS, min_share=0.5) is None


@pytest.mark.parametrize(
    "ratios, cap, factor",
    [
        ([], 2.0, 1.0),
        ([("08:10", 0.5)], 2.0, 1.0),  # never lowers
        ([("08:10", 1.4), ("08:20", 1.2)], 2.0, 1.4),  # the highest of the window
        ([("08:10", 3.0)], 2.0, 2.0),  # capped
        ([("07:20", 1.8)], 2.0, 1.0),  # older than the hour
        ([("08:10", 1.8)], 1.0, 1.0),  # switched off
    ],
)
def test_day_trend(ratios, cap, factor):
    trail = [(at(MONDAY, hhmm), r) for hhmm, r in ratios]
    assert day_trend(trail, at(MONDAY, "08:25"), timedelta(hours=1), cap) == pytest.approx(factor)


@pytest.mark.parametrize(
    "reserved, forecast, wins",
    [
        (40_000.0, 18_000.0, "reservation closure-1"),  # an announced closure comes first
        (10_000.0, 18_000.0, "forecast: "),  # a smaller reservation does not lower the forecast
    ],
)
def test_reservations_still_come_first_with_their_reason(reserved, forecast, wins):
    demand = Demand(
        forecast_units=forecast,
        forecast_reason="forecast: timetable: 09:00 class slot in 28 min, x2.00: today runs above the history",
        reserved_units=reserved,
        reserved_reason="reservation closure-1 (24,000 users from 2026-12-03T08:00:00+01:00) = 40,000 units",
    )
    obs = Observation(
        now=at(THURSDAY, "08:32"), fleet=Fleet(()), snapshot=None, scalelite=None, demand=demand
    )
    _, needed, reasons, _ = need_units(obs, load_settings())
    assert needed >= max(reserved, forecast)
    assert reasons[-1].startswith(wins)
