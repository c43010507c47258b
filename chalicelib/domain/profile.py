"""What load each weekday and time slot saw in recent weeks, as the forecast reads it (pure, no I/O).

The profile is learned from recorded (time, units) samples; a weekday with too little history borrows
the other school days' same slot (half days aside), and a profile with no day at all is `cold`, which the
forecast answers from the timetable instead (chalicelib/domain/forecast.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cached_property, lru_cache
from statistics import median_high
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from chalicelib.config import ForecastSettings


class _Calendar(Protocol):
    def is_school_day(self, day: date) -> bool: ...


def as_zone(tz: str | tzinfo) -> tzinfo:
    """A zone from its IANA name, or the zone itself."""
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def require_aware(moment: datetime, what: str) -> datetime:
    """`moment` itself; a naive time is refused (a timetable's 08:00 means nothing without a zone)."""
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
    borrow_below: int = 0  # a weekday with fewer dates kept borrows the other school days' slots
    half_days: Mapping[int, int] = field(default_factory=dict)  # weekday -> minute of the day classes end

    @classmethod
    def empty(cls, tz: str | tzinfo, bucket_minutes: int = 15) -> LoadProfile:
        """A profile with no history: every slot expects 0."""
        return cls(tz=as_zone(tz), bucket_minutes=bucket_minutes)

    @classmethod
    def from_samples(
        cls,
        samples: Iterable[tuple[datetime, float]],
        tz: str | tzinfo,
        weeks: int,
        bucket_minutes: int = 15,
        calendar: _Calendar | None = None,
    ) -> LoadProfile:
        """Learn from recorded (timestamp, units) samples, timestamps with offsets. Only the last `weeks`
        dates of each weekday that have samples are kept; with a calendar, days off are skipped so that
        a holiday week does not erase the memory of a normal one."""
        if bucket_minutes <= 0 or 1440 % bucket_minutes:
            raise ValueError(f"bucket_minutes must divide a day, got {bucket_minutes}")
        zone = as_zone(tz)
        per_day: dict[date, dict[int, float]] = defaultdict(dict)
        for at, units in samples:
            local = require_aware(at, "sample time").astimezone(zone)
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

    def borrowing(self, settings: ForecastSettings) -> LoadProfile:
        """This profile, borrowing across school days as `settings` say (`min_history_days`, `half_days`).

        Why borrow: a weekday never seen (the first week after install, a closure nobody announced on a
        day the history lacks) would otherwise expect nothing and meet its 08:00 class with no servers
        started. School days look alike slot by slot, so the others' same slot is the nearest guess: the
        median of their figures (each weekday's own maximum over its weeks), not their maximum, so that
        one odd day (a surge, a late start) is not lent to every day that borrows; a day that does run
        above it is what today's trend is for. The half days (French Wednesday afternoon: no class in
        many schools) are kept apart, their afternoon neither lent nor borrowed."""
        half = {weekday: _minute_of(local_clock(hhmm)) for weekday, hhmm in settings.half_days.items()}
        return replace(self, borrow_below=settings.min_history_days, half_days=half)

    @property
    def cold(self) -> bool:
        """No history at all: not one school day remembered."""
        return not self.days

    def borrows(self, weekday: int) -> bool:
        """Whether this weekday's slots come (also) from the other school days: it has fewer dates than
        `borrow_below` and some other weekday has history."""
        return self.weeks_seen(weekday) < self.borrow_below and any(d != weekday for d in self.days)

    def expected(self, at: datetime) -> float:
        """The load the profile expects at `at`: the maximum its weeks saw in that slot, or, on a weekday
        that borrows, the higher of that and the other school days' median in the slot; 0 if none."""
        local = require_aware(at, "time").astimezone(self.tz)
        return self.slot_peak(local.weekday(), (local.hour * 60 + local.minute) // self.bucket_minutes)

    def slot_peak(self, weekday: int, bucket: int) -> float:
        """The expected load of one (weekday, bucket): its own history, borrowing as `expected` says."""
        own = self.peaks.get((weekday, bucket), 0.0)
        if not self.borrows(weekday):
            return own
        return max(own, self._borrowed(weekday, bucket))

    def _afternoon(self, weekday: int, bucket: int) -> bool:
        start = self.half_days.get(weekday)
        return start is not None and bucket * self.bucket_minutes >= start

    def _borrowed(self, weekday: int, bucket: int) -> float:
        if self._afternoon(weekday, bucket):
            return 0.0
        lent = [
            self.peaks.get((other, bucket), 0.0)
            for other in self.days
            if other != weekday and not self._afternoon(other, bucket)
        ]
        return median_high(lent) if lent else 0.0

    def peak_between(self, start: datetime, end: datetime) -> float:
        """The highest expected load of every bucket that overlaps [start, end]."""
        step = timedelta(minutes=self.bucket_minutes)
        best = 0.0
        at = require_aware(start, "start")
        while at <= end:
            best = max(best, self.expected(at))
            at += step
        return max(best, self.expected(end))

    def day_peak(self, weekday: int) -> float:
        """The highest load the profile expects on this weekday (0 without history), borrowing included."""
        if not self.borrows(weekday):
            return self._day_peaks.get(weekday, 0.0)
        known = self._borrowed_day_peaks
        if weekday not in known:
            buckets = {bucket for _, bucket in self.peaks}
            known[weekday] = max((self.slot_peak(weekday, bucket) for bucket in buckets), default=0.0)
        return known[weekday]

    @cached_property
    def _borrowed_day_peaks(self) -> dict[int, float]:
        return {}

    @cached_property
    def _day_peaks(self) -> dict[int, float]:
        peaks: dict[int, float] = {}
        for (weekday, _), units in self.peaks.items():
            peaks[weekday] = max(peaks.get(weekday, 0.0), units)
        return peaks

    def weeks_seen(self, weekday: int) -> int:
        """How many past dates of this weekday the profile remembers."""
        return len(self.days.get(weekday, ()))


@lru_cache(maxsize=256)
def local_clock(hhmm: str) -> time:
    """The wall-clock time of a validated 'HH:MM' (cached: the timetable repeats a few values)."""
    return time.fromisoformat(hhmm)


def _minute_of(moment: time | datetime) -> int:
    return moment.hour * 60 + moment.minute
