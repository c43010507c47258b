"""The timetable's class starts in the school's zone, and which slot a moment belongs to (pure: the
settings and the clock's reading in, times out)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


class SlotClock:
    """The timetable's class starts in the school's zone, and which slot a moment belongs to."""

    def __init__(self, settings):
        self.zone = ZoneInfo(settings.timezone)
        self.starts = {
            day: sorted(time.fromisoformat(t) for t in times)
            for day, times in settings.forecast.timetable.starts.items()
        }
        self._memo: dict[int, str | None] = {}
        self._around: tuple | None = None

    def starts_around(self, now: datetime) -> list[datetime]:
        """The class starts of the day before, the day and the day after `now` (remembered per day)."""
        day = now.astimezone(self.zone).date()
        cached = self._around
        if cached is None or cached[0] != day:
            out = []
            for offset in (-1, 0, 1):
                other = day + timedelta(days=offset)
                out += [
                    datetime.combine(other, t, tzinfo=self.zone) for t in self.starts.get(other.weekday(), ())
                ]
            cached = self._around = (day, out)
        return cached[1]

    def slot_of_ms(self, epoch_ms: int) -> str | None:
        """`slot_of` a moment in epoch milliseconds, remembered (rooms are created at a few moments)."""
        slot = self._memo.get(epoch_ms, "?")
        if slot == "?":
            if len(self._memo) > 50_000:
                self._memo.clear()
            slot = self._memo[epoch_ms] = self.slot_of(datetime.fromtimestamp(epoch_ms / 1000, tz=self.zone))
        return slot

    def slot_of(self, moment: datetime) -> str | None:
        """The class start ("HH:MM") within 30 min of `moment`, if any."""
        best = min(self.starts_around(moment), key=lambda s: abs((s - moment).total_seconds()), default=None)
        if best is None or abs((best - moment).total_seconds()) > 1800:
            return None
        return best.strftime("%H:%M")
