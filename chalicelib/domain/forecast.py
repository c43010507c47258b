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

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol

from chalicelib.config import ForecastSettings
from chalicelib.domain.profile import LoadProfile, as_zone, local_clock, require_aware

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


@dataclass(frozen=True, slots=True)
class ClassSlot:
    """One class period of the timetable: it starts at `start` and lasts until the next start (at most
    `longest` minutes), local time."""

    start: datetime
    end: datetime


def class_slots(day: date, settings: ForecastSettings, tz: tzinfo, longest: float = 60.0) -> list[ClassSlot]:
    """The day's class slots from the timetable (none on a weekday the timetable leaves empty)."""
    starts = sorted(settings.timetable.starts.get(day.weekday(), ()))
    moments = [datetime.combine(day, local_clock(s), tzinfo=tz) for s in starts]
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
    zone = as_zone(tz)
    now = require_aware(now, "now")
    end = now + timedelta(minutes=minutes)
    local_now, local_end = now.astimezone(zone), end.astimezone(zone)
    for day in sorted({local_now.date(), local_end.date()}):
        for slot in class_slots(day, settings, zone):
            if now < slot.start <= end:
                return slot.start
    return None


@dataclass(frozen=True)
class ColdStart:
    """What each class slot of the timetable expects while there is no history at all (the first days
    after install): `units`, or the slot's own figure in `slots` ('HH:MM' -> units). A class slot holds
    its figure from its start to its end; outside class slots nothing is expected."""

    units: float = 0.0
    slots: Mapping[str, float] = field(default_factory=dict)

    def slot_units(self, start: datetime) -> float:
        """What the class slot starting at `start` (local time) expects."""
        return self.slots.get(start.strftime("%H:%M"), self.units)

    def expected(self, at: datetime, settings: ForecastSettings, tz: tzinfo) -> float:
        """What the class slot under way at `at` expects (0 between slots)."""
        local = at.astimezone(tz)
        for slot in class_slots(local.date(), settings, tz):
            if slot.start <= local < slot.end:
                return self.slot_units(slot.start)
        return 0.0

    def day_peak(self, day: date, settings: ForecastSettings, tz: tzinfo) -> float:
        """The highest figure of the day's class slots."""
        return max((self.slot_units(s.start) for s in class_slots(day, settings, tz)), default=0.0)


def _weekday_plural(weekday: int) -> str:
    return WEEKDAYS[weekday] + "s"


def _history_phrase(profile: LoadProfile, weekday: int, units: float) -> str:
    seen = profile.weeks_seen(weekday)
    if profile.borrows(weekday):
        aside = ", ".join(f"{WEEKDAYS[d]} afternoons" for d in sorted(profile.half_days))
        others = "other school days" + (f" ({aside} aside)" if aside else "")
        mine = f"no {_weekday_plural(weekday)} yet" if seen == 0 else f"{seen} {WEEKDAYS[weekday]}(s) only"
        return f"{mine}, {others} peaked at {units:,.0f} units"
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
    cold_start: ColdStart | None = None,
) -> Forecast:
    """The load to be ready for at `now`: the maximum, over the window [now, now + lead_minutes +
    timetable margin], of the load the history expects, and of the peak of each class slot of the
    timetable that starts inside the window. Days off (weekends, school holidays of the zone, public
    holidays) expect nothing, so nothing is pre-warmed for them. `lead_minutes` is how long a started
    server takes to serve (the provider's boot time and the tick interval); the caller picks it.
    `tz` is the timetable's timezone (default: the profile's). With no history at all (`profile.cold`),
    each class slot expects `cold_start`'s figure instead, and the reason says "no history yet"."""
    now = require_aware(now, "now")
    zone = as_zone(tz) if tz is not None else profile.tz
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
    if profile.cold and cold_start is not None and (cold_start.units > 0 or cold_start.slots):
        return _cold_forecast(now, horizon, school_days, settings, zone, cold_start)

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
    return _scaled(units, reason, factor)


def _scaled(units: float, reason: str, factor: float) -> Forecast:
    if factor != 1.0 and units > 0:
        reason += f" (x{factor:g})"
    return Forecast(units, reason)


def _cold_forecast(
    now: datetime,
    horizon: datetime,
    school_days: list[date],
    settings: ForecastSettings,
    zone: tzinfo,
    cold_start: ColdStart,
) -> Forecast:
    """No history at all: every class slot under way or starting inside [now, horizon] expects its cold
    start figure (the slot under way holds it until its end, as a history would)."""
    best, best_slot = 0.0, None
    for day in school_days:
        for slot in class_slots(day, settings, zone):
            if slot.start <= horizon and slot.end > now:
                units = cold_start.slot_units(slot.start)
                if best_slot is None or units > best:
                    best, best_slot = units, slot
    factor = settings.history_factor
    if best_slot is None or best <= 0:
        return Forecast(0.0, f"no history yet, no class expected before {horizon.astimezone(zone):%H:%M}")
    start = best_slot.start.strftime("%H:%M")
    if best_slot.start > now:
        minutes = round((best_slot.start - now).total_seconds() / 60)
        when = f"{start} class slot in {minutes} min"
    else:
        when = f"{start} class slot under way"
    return _scaled(
        best * factor, f"no history yet: timetable: {when}, {best:,.0f} units per class slot", factor
    )
