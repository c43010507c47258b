"""Readiness: the load expected soon, from the school timetable, the calendar and last weeks' history.

Pure: no I/O, no clock. `now` is passed in; the calendar is a port (`SchoolCalendar`) whose package-backed
implementation lives in chalicelib/adapters/calendar.py. The policy takes
desired capacity = max(reactive need, this forecast, reservations, operator floors); this module only
provides the forecast part.

How the forecast avoids cliffs and top-of-the-hour jitter: the figure for `now` is the *maximum* of the
expected load over the whole window [now, now + lead + margin], plus the peak of every class slot that
starts inside that window. Capacity therefore rises `lead + margin` minutes before a class starts (the
servers are serving when pupils join) and never drops in the minutes before a start: while the next
slot is inside the window its peak holds the figure up, even if the previous class has just ended.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cached_property, lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from chalicelib.config import ForecastSettings

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class SchoolCalendar(Protocol):
    """Which days pupils are in class. `day_off` names why a day is off (None on a school day)."""

    def is_school_day(self, day: date) -> bool: ...
    def day_off(self, day: date) -> str | None: ...


@dataclass(frozen=True)
class WeekdayCalendar:
    """An in-memory calendar: weekends off, plus the given dates (date -> reason). Used by unit tests,
    the simulator and hosts without the calendar packages."""

    days_off: Mapping[date, str] = field(default_factory=dict)

    def day_off(self, day: date) -> str | None:
        if day.weekday() >= 5:
            return WEEKDAYS[day.weekday()]
        return self.days_off.get(day)

    def is_school_day(self, day: date) -> bool:
        return self.day_off(day) is None


@dataclass(frozen=True, slots=True)
class Forecast:
    """Load units to have serving now so that what is expected within the lead time finds its seats,
    and one human line saying why."""

    units: float
    reason: str


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a UTC offset, got naive {moment.isoformat()}")
    return moment


@dataclass(frozen=True)
class LoadProfile:
    """What load each weekday and time slot saw in recent weeks: per (weekday, bucket), the maximum over
    the last `weeks` school days of that weekday.

    Why the maximum and not a mean or an EWMA: under-provisioning cuts a class, over-provisioning costs
    a few server-hours. The maximum follows growth at once (a class moved to Friday afternoon is
    pre-warmed the very next Friday) and forgets a one-off peak after `weeks` weeks; one quiet week
    (a strike, a trip) does not lower the next week's readiness."""

    tz: tzinfo
    bucket_minutes: int = 15
    peaks: Mapping[tuple[int, int], float] = field(default_factory=dict)  # (weekday, bucket) -> units
    days: Mapping[int, tuple[date, ...]] = field(default_factory=dict)  # weekday -> the dates kept

    @classmethod
    def empty(cls, tz: str | tzinfo, bucket_minutes: int = 15) -> LoadProfile:
        """A profile with no history: every slot expects 0."""
        return cls(tz=_zone(tz), bucket_minutes=bucket_minutes)

    @classmethod
    def from_samples(
        cls,
        samples: Iterable[tuple[datetime, float]],
        tz: str | tzinfo,
        weeks: int,
        bucket_minutes: int = 15,
        calendar: SchoolCalendar | None = None,
    ) -> LoadProfile:
        """Learn from recorded (timestamp, units) samples, timestamps with offsets. Only the last `weeks`
        dates of each weekday that have samples are kept; with a calendar, days off are skipped so that
        a holiday week does not erase the memory of a normal one."""
        if bucket_minutes <= 0 or 1440 % bucket_minutes:
            raise ValueError(f"bucket_minutes must divide a day, got {bucket_minutes}")
        zone = _zone(tz)
        per_day: dict[date, dict[int, float]] = defaultdict(dict)
        for at, units in samples:
            local = _aware(at, "sample time").astimezone(zone)
            day = local.date()
            if calendar is not None and not calendar.is_school_day(day):
                continue
            bucket = (local.hour * 60 + local.minute) // bucket_minutes
            slots = per_day[day]
            if units > slots.get(bucket, float("-inf")):
                slots[bucket] = float(units)
        kept: dict[int, tuple[date, ...]] = {}
        peaks: dict[tuple[int, int], float] = {}
        for weekday in range(7):
            dates = sorted((d for d in per_day if d.weekday() == weekday), reverse=True)[: max(weeks, 0)]
            if not dates:
                continue
            kept[weekday] = tuple(dates)
            for day in dates:
                for bucket, units in per_day[day].items():
                    key = (weekday, bucket)
                    peaks[key] = max(peaks.get(key, 0.0), units)
        return cls(tz=zone, bucket_minutes=bucket_minutes, peaks=peaks, days=kept)

    def expected(self, at: datetime) -> float:
        """The load the profile expects at `at` (the maximum its weeks saw in that slot), 0 if none."""
        local = _aware(at, "time").astimezone(self.tz)
        return self.peaks.get((local.weekday(), (local.hour * 60 + local.minute) // self.bucket_minutes), 0.0)

    def peak_between(self, start: datetime, end: datetime) -> float:
        """The highest expected load of every bucket that overlaps [start, end]."""
        step = timedelta(minutes=self.bucket_minutes)
        best = 0.0
        at = _aware(start, "start")
        while at <= end:
            best = max(best, self.expected(at))
            at += step
        return max(best, self.expected(end))

    def day_peak(self, weekday: int) -> float:
        """The highest load the profile expects on this weekday (0 without history)."""
        return self._day_peaks.get(weekday, 0.0)

    @cached_property
    def _day_peaks(self) -> dict[int, float]:
        peaks: dict[int, float] = {}
        for (weekday, _), units in self.peaks.items():
            peaks[weekday] = max(peaks.get(weekday, 0.0), units)
        return peaks

    def weeks_seen(self, weekday: int) -> int:
        """How many past dates of this weekday the profile remembers."""
        return len(self.days.get(weekday, ()))


@dataclass(frozen=True, slots=True)
class ClassSlot:
    """One class period of the timetable: it starts at `start` and lasts until the next start (at most
    `longest` minutes), local time."""

    start: datetime
    end: datetime


@lru_cache(maxsize=256)
def _clock(hhmm: str) -> time:
    return time.fromisoformat(hhmm)


def class_slots(day: date, settings: ForecastSettings, tz: tzinfo, longest: float = 60.0) -> list[ClassSlot]:
    """The day's class slots from the timetable (none on a weekday the timetable leaves empty)."""
    starts = sorted(settings.timetable.starts.get(day.weekday(), ()))
    moments = [datetime.combine(day, _clock(s), tzinfo=tz) for s in starts]
    slots = []
    for i, start in enumerate(moments):
        end = start + timedelta(minutes=longest)
        if i + 1 < len(moments):
            end = min(end, moments[i + 1])
        slots.append(ClassSlot(start, end))
    return slots


def class_start_within(
    now: datetime, settings: ForecastSettings, minutes: float, tz: str | tzinfo
) -> datetime | None:
    """The timetable's next class start in (now, now + minutes], in the timetable's zone, or None. The
    calendar is not asked: on a day off the forecast expects nothing, so what a caller does before a start
    it cannot see is harmless."""
    if minutes <= 0:
        return None
    zone = _zone(tz)
    now = _aware(now, "now")
    end = now + timedelta(minutes=minutes)
    local_now, local_end = now.astimezone(zone), end.astimezone(zone)
    for day in sorted({local_now.date(), local_end.date()}):
        for slot in class_slots(day, settings, zone):
            if now < slot.start <= end:
                return slot.start
    return None


def _weekday_plural(weekday: int) -> str:
    return WEEKDAYS[weekday] + "s"


def _history_phrase(profile: LoadProfile, weekday: int, units: float) -> str:
    seen = profile.weeks_seen(weekday)
    if seen == 0:
        return f"no history for {_weekday_plural(weekday)} yet"
    which = f"last {WEEKDAYS[weekday]}" if seen == 1 else f"last {seen} {_weekday_plural(weekday)}"
    return f"{which} peaked at {units:,.0f} units"


def forecast_units(
    now: datetime,
    settings: ForecastSettings,
    calendar: SchoolCalendar,
    profile: LoadProfile,
    lead_minutes: float,
    tz: str | tzinfo | None = None,
) -> Forecast:
    """The load to be ready for at `now`: the maximum, over the window [now, now + lead_minutes +
    timetable margin], of the load the history expects, and of the peak of each class slot of the
    timetable that starts inside the window. Days off (weekends, school holidays of the zone, public
    holidays) expect nothing, so nothing is pre-warmed for them. `lead_minutes` is how long a started
    server takes to serve (the provider's boot time and the tick interval); the caller picks it.
    `tz` is the timetable's timezone (default: the profile's)."""
    now = _aware(now, "now")
    zone = _zone(tz) if tz is not None else profile.tz
    if not settings.enabled:
        return Forecast(0.0, "forecast disabled")
    horizon = now + timedelta(minutes=max(lead_minutes, 0.0) + settings.timetable.margin_minutes)
    local_now, local_end = now.astimezone(zone), horizon.astimezone(zone)
    days = (
        [local_now.date()] if local_now.date() == local_end.date() else [local_now.date(), local_end.date()]
    )
    school_days = [d for d in days if calendar.is_school_day(d)]
    if not school_days:
        off = calendar.day_off(local_now.date()) or "day off"
        return Forecast(0.0, f"no pre-warming: {local_now.date().isoformat()} is a day off ({off})")

    history = 0.0
    step = timedelta(minutes=profile.bucket_minutes)
    at = now
    while True:
        if at.astimezone(zone).date() in school_days:
            history = max(history, profile.expected(at))
        if at >= horizon:
            break
        at = min(at + step, horizon)

    slot_units, slot = 0.0, None
    for day in school_days:
        for candidate in class_slots(day, settings, zone):
            if now <= candidate.start <= horizon:
                peak = profile.peak_between(candidate.start, candidate.end - timedelta(minutes=1))
                if slot is None or peak > slot_units:
                    slot_units, slot = peak, candidate

    factor = settings.history_factor
    units = max(history, slot_units) * factor
    until = local_end.strftime("%H:%M")
    if slot is not None and slot_units >= history:
        minutes = round((slot.start - now).total_seconds() / 60)
        weekday = slot.start.weekday()
        reason = (
            f"timetable: {slot.start.strftime('%H:%M')} class slot in {minutes} min, "
            f"{_history_phrase(profile, weekday, slot_units)}"
        )
    elif history > 0:
        weekday = local_now.weekday()
        reason = (
            f"history: {_history_phrase(profile, weekday, history)} between {local_now:%H:%M} and {until}"
        )
    else:
        reason = f"no class expected before {until}"
    if factor != 1.0 and units > 0:
        reason += f" (x{factor:g})"
    return Forecast(units, reason)
