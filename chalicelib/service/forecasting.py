"""The forecast as the tick sees it: timetable + school calendar + the load history bbbscale recorded.

Each tick records its measured load into a compact per-day profile in the state store's load history
(the maximum per 5-minute slot, chalicelib/state_ports.py LoadHistory), and the forecast learns from the
last weeks of those days. The profile is rebuilt at most once per slot, so a tick costs a few reads and
writes, on SQLite or DynamoDB alike.

Five-minute slots, because classes end at :45-:55 and start at :00: a coarser slot's maximum keeps the
last class's peak in the forecast until the next class has begun, so the surplus could not be cordoned
before the next class's rooms are spread over it.

Today's trend: a day that runs above the history (a closure nobody announced, an exam week) would meet
the next class with last weeks' fleet. Each tick compares the measured load with what the history
expected around now (chalicelib/domain/trend.py); the highest ratio of the last hour (above 1, capped by
`max_trend_factor`) raises the forecast, and the reason says so. It never lowers it: a quiet hour is no
promise about the next. The ratios are kept in the store, so a cold Lambda applies them too.

A weekday with no history borrows the other school days' (`min_history_days`, `half_days`), and with no
history at all each timetable slot expects `cold_start_users` (the first days after install): both are
also the trend's yardstick, so a doubling is seen from the first class on a day never seen before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.domain.kept import TrendPoint
from chalicelib.service.demand import lead_minutes

if TYPE_CHECKING:  # annotations only: the forecast model brings the settings (pydantic)
    from chalicelib.domain.forecast import SchoolCalendar

BUCKET_MINUTES = 5
TREND_WINDOW = timedelta(minutes=60)
TREND_NOISE = 1.05  # ratios up to this are read as "as expected"


class Forecaster:
    """Callable `now -> (units, reason)` for the planner. With a store, it learns from recorded ticks
    (`record` after each tick); with a fixed `profile`, it uses that one (and still learns into it)."""

    def __init__(self, settings, store=None, profile=None, *, calendar: SchoolCalendar):
        self.settings, self.store = settings, store
        self._fixed = profile.borrowing(settings.forecast) if profile is not None else None
        self._calendar = calendar
        self._cached: tuple[str, object] | None = None
        self._memory_trail: list[tuple[datetime, float]] = []

    @property
    def calendar(self) -> SchoolCalendar:
        return self._calendar

    def __call__(self, now: datetime) -> tuple[float, str]:
        from chalicelib.domain.forecast import forecast_units

        if not self.settings.forecast.enabled:
            return 0.0, ""
        profile = self._profile(now)
        result = forecast_units(
            now,
            self.settings.forecast,
            self.calendar,
            profile,
            lead_minutes(self.settings),
            tz=self.settings.timezone,
            cold_start=self.cold_start,
        )
        trend = self.trend(now)
        if trend > TREND_NOISE and result.units > 0:
            return (
                result.units * trend,
                f"forecast: {result.reason}, x{trend:.2f}: today runs above the history",
            )
        return result.units, f"forecast: {result.reason}"

    @cached_property
    def cold_start(self):
        """What each class slot expects with no history at all, in load units (from `cold_start_users`
        and `cold_start_slots`, with the configured user mix)."""
        from chalicelib.domain.forecast import ColdStart
        from chalicelib.service.demand import reservation_units

        forecast = self.settings.forecast
        return ColdStart(
            reservation_units(forecast.cold_start_users, self.settings),
            {
                hhmm: reservation_units(users, self.settings)
                for hhmm, users in forecast.cold_start_slots.items()
            },
        )

    def trend(self, now: datetime) -> float:
        """How far above the history today runs: the highest measured/expected ratio of the last hour,
        between 1 and `max_trend_factor`."""
        from chalicelib.domain.trend import day_trend

        return day_trend(self._trail(), now, TREND_WINDOW, self.settings.forecast.max_trend_factor)

    def _profile(self, now: datetime):
        from chalicelib.domain.forecast import LoadProfile

        if self._fixed is not None:
            return self._fixed
        if self.store is None:
            return LoadProfile.empty(self.settings.timezone, BUCKET_MINUTES)
        slot = now.strftime("%Y-%m-%d %H:") + str(now.minute // BUCKET_MINUTES)  # rebuilt once per slot
        if self._cached is None or self._cached[0] != slot:
            self._cached = (
                slot,
                LoadProfile.from_samples(
                    self._samples(now),
                    self.settings.timezone,
                    self.settings.forecast.history_weeks,
                    BUCKET_MINUTES,
                    calendar=self.calendar,
                ).borrowing(self.settings.forecast),
            )
        return self._cached[1]

    def _samples(self, now: datetime) -> list[tuple[datetime, float]]:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(self.settings.timezone)
        out = []
        for back in range(1, 7 * max(self.settings.forecast.history_weeks, 1) + 1):
            day = (now.astimezone(tz) - timedelta(days=back)).date()
            for minutes, units in self.store.load_history.slots(day).items():
                at = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz)
                out.append((at, units))
        return out

    def _trail(self) -> list[tuple[datetime, float]]:
        if self.store is None:
            return self._memory_trail
        return [(p.at, p.ratio) for p in self.store.load_history.trend()]

    def _note_trend(self, now: datetime, units: float) -> None:
        """Keep this tick's measured/expected ratio when the history expected a real load around now."""
        from zoneinfo import ZoneInfo

        from chalicelib.domain.trend import trend_ratio

        if self.settings.forecast.max_trend_factor <= 1.0:
            return
        ratio = trend_ratio(
            now,
            units,
            self.settings.forecast,
            self.calendar,
            self._profile(now),
            ZoneInfo(self.settings.timezone),
            self.cold_start,
        )
        if ratio is None:
            return
        trail = [(at, r) for at, r in self._trail() if now - TREND_WINDOW < at < now] + [(now, ratio)]
        if self.store is None:
            self._memory_trail = trail
        else:
            self.store.load_history.keep_trend([TrendPoint(at, r) for at, r in trail])

    def record(self, now: datetime, units: float | None) -> None:
        """Remember the measured load of this tick in today's slot maximum, and today's trend."""
        if units is None:
            return
        self._note_trend(now, units)
        if self.store is None:
            return
        from zoneinfo import ZoneInfo

        local = now.astimezone(ZoneInfo(self.settings.timezone))
        minute = local.hour * 60 + local.minute
        self.store.load_history.raise_slot(local.date(), minute - minute % BUCKET_MINUTES, units)


class NoForecast:
    """The forecast switched off by hand (tests, benches): nothing expected, nothing learnt."""

    def __call__(self, now: datetime) -> tuple[float, str]:
        return 0.0, ""

    def record(self, now: datetime, units: float | None) -> None:
        return None
