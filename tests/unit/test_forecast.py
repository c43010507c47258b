"""The forecast: timetable pre-warming, days off, history profile, no cliff before a class."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib.config import ConfigError, ForecastSettings, TimetableSettings
from chalicelib.domain.forecast import (
    LoadProfile,
    WeekdayCalendar,
    class_slots,
    class_start_within,
    forecast_units,
)

PARIS = ZoneInfo("Europe/Paris")
MONDAY = date(2026, 11, 23)
PAST_MONDAYS = [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]
SETTINGS = ForecastSettings()  # default timetable, margin 10 min
SCHOOL = WeekdayCalendar()


def at(day: date, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def class_load(day: date, slots: dict[str, tuple[int, float]]) -> list[tuple[datetime, float]]:
    """Minute samples of one day: each 'HH:MM' start holds `units` for `minutes`, 0 elsewhere."""
    samples = []
    for minute in range(6 * 60, 19 * 60):
        moment = at(day, f"{minute // 60:02d}:{minute % 60:02d}")
        units = 0.0
        for start, (length, value) in slots.items():
            begin = at(day, start)
            if begin <= moment < begin + timedelta(minutes=length):
                units = max(units, value)
        samples.append((moment, units))
    return samples


MONDAY_SLOTS = {"08:00": (55, 24_100.0), "09:00": (55, 30_000.0), "10:00": (55, 12_000.0)}


def monday_profile(weeks: int = 3) -> LoadProfile:
    samples = [s for d in PAST_MONDAYS for s in class_load(d, MONDAY_SLOTS)]
    return LoadProfile.from_samples(samples, "Europe/Paris", weeks=weeks)


@pytest.mark.parametrize(
    "hhmm, lead, units, reason",
    [
        ("07:40", 15, 24_100, "timetable: 08:00 class slot in 20 min, last 3 Mondays peaked at 24,100 units"),
        ("07:10", 15, 0, "no class expected before 07:35"),  # too early: servers would idle
        ("07:50", 0, 24_100, "timetable: 08:00 class slot in 10 min"),  # margin alone reaches 08:00
        ("08:40", 15, 30_000, "timetable: 09:00 class slot in 20 min, last 3 Mondays peaked at 30,000 units"),
        ("10:30", 15, 12_000, "history: last 3 Mondays peaked at 12,000 units between 10:30 and 10:55"),
        ("11:30", 15, 0, "no class expected before 11:55"),
    ],
)
def test_monday_pre_warms_for_the_coming_slot(hhmm, lead, units, reason):
    result = forecast_units(at(MONDAY, hhmm), SETTINGS, SCHOOL, monday_profile(), lead_minutes=lead)
    assert result.units == pytest.approx(units)
    assert result.reason.startswith(reason)


def test_slot_peak_counts_the_whole_slot_not_only_its_start():
    # Pupils join over the first minutes: the 08:00 slot peaks at 08:20, after the look-ahead window.
    samples = [
        s for d in PAST_MONDAYS for s in class_load(d, {"08:00": (10, 5_000.0), "08:15": (40, 20_000.0)})
    ]
    profile = LoadProfile.from_samples(samples, PARIS, weeks=3)
    result = forecast_units(at(MONDAY, "07:45"), SETTINGS, SCHOOL, profile, lead_minutes=5)
    assert result.units == 20_000


@pytest.mark.parametrize(
    "day, reason",
    [
        (date(2026, 12, 21), "no pre-warming: 2026-12-21 is a day off (Vacances de Noël)"),
        (date(2026, 11, 28), "no pre-warming: 2026-11-28 is a day off (Saturday)"),
    ],
)
def test_days_off_are_not_pre_warmed(day, reason):
    calendar = WeekdayCalendar({date(2026, 12, 21): "Vacances de Noël"})
    result = forecast_units(at(day, "07:40"), SETTINGS, calendar, monday_profile(), lead_minutes=15)
    assert (result.units, result.reason) == (0.0, reason)


def test_real_calendar_zone_b_toussaint_2026():
    from chalicelib.adapters.calendar import FrenchSchoolCalendar

    calendar = FrenchSchoolCalendar(zone="B")
    holiday = forecast_units(at(date(2026, 10, 19), "07:40"), SETTINGS, calendar, monday_profile(), 15)
    back_to_school = forecast_units(at(date(2026, 11, 2), "07:40"), SETTINGS, calendar, monday_profile(), 15)
    armistice = forecast_units(at(date(2026, 11, 11), "07:40"), SETTINGS, calendar, monday_profile(), 15)
    assert holiday.units == 0 and "Toussaint, zone B" in holiday.reason
    assert back_to_school.units == 24_100
    assert armistice.units == 0 and "2026-11-11" in armistice.reason
    # Beyond the school-holiday table (2028 in 0.12): weekends and public holidays still count.
    assert calendar.is_school_day(date(2031, 3, 3)) and not calendar.is_school_day(date(2031, 11, 11))
    with pytest.raises(ConfigError, match="forecast.zone: 'D'"):
        FrenchSchoolCalendar(zone="D")
    with pytest.raises(ConfigError, match="forecast.country"):
        FrenchSchoolCalendar(country="XX").is_school_day(date(2026, 11, 23))


def test_wednesday_afternoon_is_light():
    # Last weeks: classes every morning slot, afternoons only outside Wednesday.
    slots = dict.fromkeys(["08:00", "09:00", "10:00", "11:00", "13:00", "14:00", "15:00"], (55, 20000.0))
    wednesday_slots = dict.fromkeys(["08:00", "09:00", "10:00", "11:00"], (55, 20000.0))
    samples = []
    for week in range(3):
        for weekday in range(5):
            day = date(2026, 11, 2) + timedelta(days=7 * week + weekday)
            samples += class_load(day, wednesday_slots if weekday == 2 else slots)
    profile = LoadProfile.from_samples(samples, PARIS, weeks=3)
    tuesday = forecast_units(at(date(2026, 11, 24), "12:45"), SETTINGS, SCHOOL, profile, 15)
    wednesday = forecast_units(at(date(2026, 11, 25), "12:45"), SETTINGS, SCHOOL, profile, 15)
    assert tuesday.units == 20_000 and tuesday.reason.startswith("timetable: 13:00 class slot")
    assert wednesday.units == 0
    assert [s.start.strftime("%H:%M") for s in class_slots(date(2026, 11, 25), SETTINGS, PARIS)][
        -1
    ] == "11:00"


def test_profile_keeps_the_maximum_of_the_last_weeks():
    peaks = {date(2026, 11, 2): 10_000.0, date(2026, 11, 9): 20_000.0, date(2026, 11, 16): 15_000.0}
    samples = [s for d, v in peaks.items() for s in class_load(d, {"08:00": (55, v)})]
    three = LoadProfile.from_samples(samples, PARIS, weeks=3)
    one = LoadProfile.from_samples(samples, PARIS, weeks=1)
    none = LoadProfile.from_samples(samples, PARIS, weeks=0)
    assert three.expected(at(MONDAY, "08:20")) == 20_000
    assert one.expected(at(MONDAY, "08:20")) == 15_000  # only the most recent Monday
    assert none.expected(at(MONDAY, "08:20")) == 0
    assert three.expected(at(MONDAY, "09:20")) == 0
    assert three.expected(at(date(2026, 11, 24), "08:20")) == 0  # a Tuesday learned nothing
    assert three.weeks_seen(0) == 3 and one.weeks_seen(0) == 1


def test_profile_skips_days_off_when_given_a_calendar():
    samples = class_load(date(2026, 11, 2), {"08:00": (55, 18_000.0)})
    samples += class_load(date(2026, 11, 9), {"08:00": (55, 300.0)})  # a strike day, declared off
    calendar = WeekdayCalendar({date(2026, 11, 9): "strike"})
    profile = LoadProfile.from_samples(samples, PARIS, weeks=1, calendar=calendar)
    assert profile.expected(at(MONDAY, "08:10")) == 18_000


def test_classes_at_half_past_are_learned_without_being_told():
    samples = [s for d in PAST_MONDAYS for s in class_load(d, {"08:30": (55, 9_000.0)})]
    profile = LoadProfile.from_samples(samples, PARIS, weeks=3)
    result = forecast_units(at(MONDAY, "08:10"), SETTINGS, SCHOOL, profile, lead_minutes=15)
    assert result.units == 9_000 and result.reason.startswith("history: last 3 Mondays peaked at 9,000 units")


def test_disabled_factor_and_naive_time():
    off = ForecastSettings(enabled=False)
    assert forecast_units(at(MONDAY, "07:40"), off, SCHOOL, monday_profile(), 15).units == 0
    boosted = ForecastSettings(history_factor=1.5)
    result = forecast_units(at(MONDAY, "07:40"), boosted, SCHOOL, monday_profile(), 15)
    assert result.units == pytest.approx(24_100 * 1.5) and result.reason.endswith("(x1.5)")
    with pytest.raises(ValueError, match="UTC offset"):
        forecast_units(datetime(2026, 11, 23, 7, 40), SETTINGS, SCHOOL, monday_profile(), 15)


def test_no_cliff_before_a_class():
    """Minute by minute through a Monday morning: the forecast never drops while a class start is
    within the look-ahead, even in the minutes between one class ending and the next starting."""
    profile = monday_profile()
    lead = 15
    horizon = lead + SETTINGS.timetable.margin_minutes
    for minute in range(7 * 60, 11 * 60):
        now = at(MONDAY, f"{minute // 60:02d}:{minute % 60:02d}")
        units = forecast_units(now, SETTINGS, SCHOOL, profile, lead).units
        needed = max(profile.expected(now + timedelta(minutes=k)) for k in range(int(horizon) + 1))
        assert units >= needed
        if now.minute >= 60 - horizon:  # the run-up to a start
            start_peak = profile.expected(now.replace(minute=0) + timedelta(hours=1, minutes=5))
            assert units >= start_peak


@hsettings(max_examples=60, deadline=None)
@given(
    loads=st.lists(st.floats(0, 50_000), min_size=96, max_size=96),
    minute=st.integers(0, 24 * 60 - 1),
    lead=st.floats(0, 60),
)
def test_forecast_covers_every_expected_load_in_the_window(loads, minute, lead):
    day = date(2026, 11, 16)
    samples = [(at(day, f"{(i * 15) // 60:02d}:{(i * 15) % 60:02d}"), v) for i, v in enumerate(loads)]
    profile = LoadProfile.from_samples(samples, PARIS, weeks=1)
    now = at(MONDAY, f"{minute // 60:02d}:{minute % 60:02d}")
    horizon = lead + SETTINGS.timetable.margin_minutes
    result = forecast_units(now, SETTINGS, SCHOOL, profile, lead)
    for k in range(int(horizon) + 1):
        ahead = now + timedelta(minutes=k)
        if ahead.date() == MONDAY:
            assert result.units >= profile.expected(ahead)


def test_timetable_rejects_bad_times():
    with pytest.raises(ValueError, match="not 'HH:MM'"):
        TimetableSettings(starts={0: ["8h00"]})


def readiness(variant_learned: str, variant_now: str, afternoon_friday: bool = False) -> float:
    """Worst ratio, over the minutes of a generated week carrying >= 25% of its peak, of the forecast
    made 16 minutes before (lead 6 + margin 10) to the load that came; history: the week before."""
    from bbbsim.schoolday import generate_week
    from bbbsim.traces import load_series
    from chalicelib.config import LoadWeights

    past = generate_week(date(2026, 11, 16), seed=1, scale=0.2, variant=variant_learned)
    profile = LoadProfile.from_samples(load_series(past, LoadWeights()), PARIS, weeks=1)
    actual = load_series(
        generate_week(date(2026, 11, 23), seed=9, scale=0.2, variant=variant_now), LoadWeights()
    )
    peak = max(units for _, units in actual)
    ratios = [
        forecast_units(moment - timedelta(minutes=16), SETTINGS, SCHOOL, profile, 6).units / units
        for moment, units in actual
        if units >= 0.25 * peak
        and (
            not afternoon_friday
            or (moment.astimezone(PARIS).weekday() == 4 and moment.astimezone(PARIS).hour >= 13)
        )
    ]
    return min(ratios)


@pytest.mark.parametrize("variant", ["half-past", "friday-surge"])
def test_departures_from_the_timetable_are_learned_without_being_told(variant):
    assert readiness(variant, variant) >= 0.85
    if variant == "friday-surge":
        assert readiness(variant, variant, afternoon_friday=True) >= 0.85
        assert readiness("timetable", variant, afternoon_friday=True) < 0.7  # what history taught


def test_class_start_within_finds_the_next_start_only_inside_the_window():
    paris = ZoneInfo("Europe/Paris")
    cfg = ForecastSettings()
    monday = date(2026, 11, 30)
    assert class_start_within(at(monday, "07:52"), cfg, 10, paris) == at(monday, "08:00")
    assert class_start_within(at(monday, "07:49"), cfg, 10, paris) is None
    assert class_start_within(at(monday, "08:00"), cfg, 10, paris) is None  # a class under way is no start
    assert class_start_within(at(monday, "11:55"), cfg, 10, paris) is None  # lunch: the next is 13:00
    assert class_start_within(at(monday, "07:52"), cfg, 0, paris) is None
    sunday_night = datetime(2026, 11, 29, 23, 55, tzinfo=paris)
    assert class_start_within(sunday_night, cfg, 30, paris) is None
