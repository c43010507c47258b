"""The forecast as the tick sees it: timetable + school calendar + the load history bbbscale recorded.

Each tick records its measured load into a compact per-day profile in the state store (the maximum per
15-minute slot), and the forecast learns from the last weeks of those days. The profile is rebuilt at
most once per slot, so a tick costs one settings read and one write, on SQLite or DynamoDB alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.service.demand import lead_minutes

SAMPLES_PREFIX = "load_samples:"  # + local date -> {bucket: max units}
BUCKET_MINUTES = 15


def history_profile(settings, traces):
    """A profile learned from whole traces (the demo's and the simulator's "last weeks")."""
    from chalicelib.domain.forecast import LoadProfile
    from chalicelib.sim.traces import load_series

    samples = [point for trace in traces for point in load_series(trace, settings.weights)]
    return LoadProfile.from_samples(samples, settings.timezone, settings.forecast.history_weeks, BUCKET_MINUTES)


class Forecaster:
    """Callable `now -> (units, reason)` for the planner. With a store, it learns from recorded ticks
    (`record` after each tick); with a fixed `profile`, it uses that one (and still learns into it)."""

    def __init__(self, settings, store=None, profile=None, calendar=None):
        self.settings, self.store = settings, store
        self._fixed = profile
        self._calendar = calendar
        self._cached: tuple[str, object] | None = None

    @property
    def calendar(self):
        if self._calendar is None:
            from chalicelib.adapters.calendar import FrenchSchoolCalendar

            self._calendar = FrenchSchoolCalendar.from_settings(self.settings.forecast)
        return self._calendar

    def __call__(self, now: datetime) -> tuple[float, str]:
        from chalicelib.domain.forecast import forecast_units

        if not self.settings.forecast.enabled:
            return 0.0, ""
        profile = self._profile(now)
        result = forecast_units(now, self.settings.forecast, self.calendar, profile, lead_minutes(self.settings),
                                tz=self.settings.timezone)
        return result.units, f"forecast: {result.reason}"

    def _profile(self, now: datetime):
        from chalicelib.domain.forecast import LoadProfile

        if self._fixed is not None:
            return self._fixed
        if self.store is None:
            return LoadProfile.empty(self.settings.timezone, BUCKET_MINUTES)
        slot = now.strftime("%Y-%m-%d %H:") + str(now.minute // BUCKET_MINUTES)
        if self._cached is None or self._cached[0] != slot:
            self._cached = (slot, LoadProfile.from_samples(self._samples(now), self.settings.timezone,
                                                           self.settings.forecast.history_weeks, BUCKET_MINUTES,
                                                           calendar=self.calendar))
        return self._cached[1]

    def _samples(self, now: datetime) -> list[tuple[datetime, float]]:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(self.settings.timezone)
        out = []
        for back in range(1, 7 * max(self.settings.forecast.history_weeks, 1) + 1):
            day = (now.astimezone(tz) - timedelta(days=back)).date()
            for bucket, units in (self.store.settings.get(f"{SAMPLES_PREFIX}{day.isoformat()}", None) or {}).items():
                minutes = int(bucket) * BUCKET_MINUTES
                at = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz)
                out.append((at, float(units)))
        return out

    def record(self, now: datetime, units: float | None) -> None:
        """Remember the measured load of this tick in today's slot maximum."""
        if units is None or self.store is None:
            return
        from zoneinfo import ZoneInfo

        local = now.astimezone(ZoneInfo(self.settings.timezone))
        key = f"{SAMPLES_PREFIX}{local.date().isoformat()}"
        bucket = str((local.hour * 60 + local.minute) // BUCKET_MINUTES)
        day = dict(self.store.settings.get(key, None) or {})
        if units > day.get(bucket, -1.0):
            day[bucket] = round(units, 1)
            self.store.settings.put(key, day)
