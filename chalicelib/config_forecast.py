"""The `[forecast]` section and its timetable: class starts, school holidays' zone, history, trend and
cold start (chalicelib/domain/forecast.py, chalicelib/service/forecasting.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from chalicelib.config_strict import Strict, weekday_keys


class TimetableSettings(Strict):
    """Class starts per weekday (0=Monday), local times 'HH:MM'. Default: French secondary school."""

    starts: dict[int, list[str]] = Field(
        default_factory=lambda: {
            d: ["08:00", "09:00", "10:00", "11:00", "13:00", "14:00", "15:00", "16:00"]
            if d != 2
            else ["08:00", "09:00", "10:00", "11:00"]
            for d in range(5)
        }
    )
    margin_minutes: float = Field(10.0, ge=0)

    @field_validator("starts", mode="before")
    @classmethod
    def _weekdays(cls, value):
        return weekday_keys(value)

    @field_validator("starts")
    @classmethod
    def _starts(cls, value: dict[int, list[str]]) -> dict[int, list[str]]:
        for weekday, starts in value.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday {weekday} is not 0 (Monday) .. 6 (Sunday)")
            for start in starts:
                if not _is_hhmm(start):
                    raise ValueError(f"class start {start!r} of weekday {weekday} is not 'HH:MM'")
        return value


class ForecastSettings(Strict):
    enabled: bool = True
    # checked here, not only when a tick builds its calendar: `plan` and `load` ran on zone "Z"
    zone: Literal["A", "B", "C"] = Field("B", description="French school-holiday zone: A, B or C")
    country: str = "FR"
    timetable: TimetableSettings = Field(default_factory=TimetableSettings)
    history_weeks: int = Field(3, ge=0)
    history_factor: float = Field(1.0, ge=0)
    max_trend_factor: float = Field(
        2.0,
        ge=1.0,
        le=5.0,
        description="when today runs above the history (measured load over the history's for the same time, "
        "highest of the last hour), the forecast is raised by that ratio, up to this (1: never)",
    )
    min_history_days: int = Field(
        1,
        ge=0,
        description="a weekday with fewer remembered school days than this borrows the other school days' "
        "history for the same slot (the median of their figures, the higher middle one if even; half days aside); 0: never borrow",
    )
    half_days: dict[int, str] = Field(
        default_factory=lambda: {2: "12:00"},
        description="weekday (0=Monday) -> local 'HH:MM' from which that day usually has no class (French "
        "Wednesday afternoon): its afternoon and other days' afternoons are never borrowed for one another",
    )
    cold_start_users: int = Field(
        15_000,
        ge=0,
        description="users each timetable class slot expects while there is no history at all (the first "
        "days after install), turned into load units with `mix`; default the seed's peak; 0: no cold start",
    )
    cold_start_slots: dict[str, int] = Field(
        default_factory=dict, description="per class start 'HH:MM': users that slot expects at cold start"
    )

    @field_validator("half_days", mode="before")
    @classmethod
    def _half_day_keys(cls, value):
        return weekday_keys(value)

    @field_validator("half_days")
    @classmethod
    def _half_days(cls, value: dict[int, str]) -> dict[int, str]:
        for weekday, start in value.items():
            if not 0 <= weekday <= 6 or not _is_hhmm(start):
                raise ValueError(f"half day {weekday}: {start!r} needs a weekday 0..6 and 'HH:MM'")
        return value

    @field_validator("cold_start_slots")
    @classmethod
    def _cold_start_slots(cls, value: dict[str, int]) -> dict[str, int]:
        for start, users in value.items():
            if not _is_hhmm(start) or not 0 <= users <= MAX_SLOT_USERS:
                raise ValueError(
                    f"cold start slot {start[:20]!r}: {users} needs 'HH:MM' and users from 0 to {MAX_SLOT_USERS:,}"
                )
        return value


#: The most users one cold-start slot may expect (cold_start_users' own ceiling): 2^63 was accepted and
#: a replay scaled to the whole quota.
MAX_SLOT_USERS = 10_000_000


def _is_hhmm(text: str) -> bool:
    """A local time 'HH:MM' (24 h)."""
    hour, sep, minute = text.partition(":")
    return bool(
        sep
        and len(hour) == 2
        and len(minute) == 2
        and hour.isdigit()
        and minute.isdigit()
        and int(hour) < 24
        and int(minute) < 60
    )
