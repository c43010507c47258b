"""Today's trend: how far above what was expected the day runs, measured on its first class slots.

Pure: the caller gives the measured load, the profile (history, borrowing across school days) and the
cold-start figures. A day that doubles without warning (a closure nobody announced) shows it in its first
class: the ratio measured / expected is then applied to the next slots' forecast, which rises a lead time
before each of them, so their servers are serving before their rooms are placed.

The expectation "around now" is the highest expected load of the last `lookback` minutes: pupils join over
a class's first minutes and the history's slot maximum comes from its fullest minute, so comparing minute
to minute would read every class start as a quiet day. With no history at all, the timetable's cold-start
figure of the slot under way is the yardstick ("the timetable's expectation").
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from chalicelib.config import ForecastSettings
from chalicelib.domain.forecast import ColdStart, SchoolCalendar
from chalicelib.domain.profile import LoadProfile, require_aware

LOOKBACK = timedelta(minutes=15)
MIN_SHARE = 0.25  # below this share of the day's expected peak, ratios are noise (dawn, lunch, the tail)


def expected_around(
    now: datetime,
    settings: ForecastSettings,
    profile: LoadProfile,
    tz: tzinfo,
    cold_start: ColdStart | None = None,
    lookback: timedelta = LOOKBACK,
) -> tuple[float, float]:
    """(the load expected around `now`, the day's expected peak): from the history (borrowing as the
    profile says), or, with no history at all, from the cold-start figure of the class slots."""
    local = require_aware(now, "now").astimezone(tz)
    if profile.cold:
        if cold_start is None:
            return 0.0, 0.0
        moments = [
            now - lookback + timedelta(minutes=m)
            for m in range(0, int(lookback.total_seconds() // 60) + 1, 5)
        ]
        around = max(cold_start.expected(at, settings, tz) for at in moments + [now])
        return around, cold_start.day_peak(local.date(), settings, tz)
    return profile.peak_between(now - lookback, now), profile.day_peak(local.weekday())


def trend_ratio(
    now: datetime,
    measured: float,
    settings: ForecastSettings,
    calendar: SchoolCalendar,
    profile: LoadProfile,
    tz: tzinfo,
    cold_start: ColdStart | None = None,
    lookback: timedelta = LOOKBACK,
    min_share: float = MIN_SHARE,
) -> float | None:
    """measured / expected around `now`, or None when the expectation is no yardstick: a day off, nothing
    expected, or a quiet part of the day (under `min_share` of the day's expected peak)."""
    if not calendar.is_school_day(require_aware(now, "now").astimezone(tz).date()):
        return None
    expected, day_peak = expected_around(now, settings, profile, tz, cold_start, lookback)
    if expected <= 0 or expected < min_share * day_peak:
        return None
    return measured / expected


def day_trend(ratios: list[tuple[datetime, float]], now: datetime, window: timedelta, cap: float) -> float:
    """The factor applied to the forecast: the highest ratio of the last `window`, between 1 and `cap`.
    Never below 1: a quiet hour is no promise about the next, so the forecast never drops under the
    history."""
    recent = [r for at, r in ratios if now - window < at <= now]
    return min(max(recent + [1.0]), max(cap, 1.0))
