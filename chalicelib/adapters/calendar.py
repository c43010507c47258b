"""The French school calendar: weekends, school holidays by zone, public holidays.

Backed by two packages, imported on first use so that `import app` stays light:
- `vacances-scolaires-france` (zone A/B/C school holidays, from the Education ministry's open data; its
  bundled table covers a limited range of years, 1990-2028 in 0.12);
- `holidays` (public holidays, country FR).
A year outside the school-holiday table is treated as having no school holidays (weekends and public
holidays still count): the forecast then pre-warms on a holiday weekday, which costs server-hours but
never cuts a class; the reactive part of the policy still follows the real load.
"""

from __future__ import annotations

from datetime import date
from functools import cache, lru_cache

from chalicelib.config import ConfigError, ForecastSettings
from chalicelib.domain.forecast import WEEKDAYS

ZONES = ("A", "B", "C")


@cache
def _school_holidays():
    from vacances_scolaires_france import SchoolHolidayDates  # ~14,000-row CSV: load once per process

    return SchoolHolidayDates()


@cache
def _public_holidays(country: str):
    import holidays

    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        raise ConfigError(
            f"invalid configuration: forecast.country: no public holidays known for {country!r}"
        ) from None


class FrenchSchoolCalendar:
    """A `SchoolCalendar` (chalicelib.domain.forecast) for one French holiday zone. Answers are cached
    per date; the packages are imported lazily on the first question."""

    def __init__(self, zone: str = "B", country: str = "FR"):
        if zone not in ZONES:
            raise ConfigError(
                f"invalid configuration: forecast.zone: {zone!r} is not one of {', '.join(ZONES)}"
            )
        self.zone = zone
        self.country = country
        self.day_off = lru_cache(maxsize=4096)(self._day_off)

    @classmethod
    def from_settings(cls, settings: ForecastSettings) -> FrenchSchoolCalendar:
        """The calendar the forecast settings name (zone, country)."""
        return cls(zone=settings.zone, country=settings.country)

    def _day_off(self, day: date) -> str | None:
        """Why `day` has no classes (weekend, holiday name), or None on a school day."""
        if day.weekday() >= 5:
            return WEEKDAYS[day.weekday()]
        public = _public_holidays(self.country).get(day)
        if public:
            return str(public)
        from vacances_scolaires_france import UnsupportedYearException

        table = _school_holidays()
        try:
            if table.is_holiday_for_zone(day, self.zone):
                return f"{table.data[day]['nom_vacances']}, zone {self.zone}"
        except UnsupportedYearException:
            return None  # outside the bundled table: see the module docstring
        return None

    def is_school_day(self, day: date) -> bool:
        """True when pupils of the zone are in class on `day`."""
        return self.day_off(day) is None

    def __repr__(self) -> str:
        return f"FrenchSchoolCalendar(zone={self.zone!r}, country={self.country!r})"
