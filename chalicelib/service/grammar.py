"""The chat command language: text after the slash command (or trigger word) -> a typed command.

Pure: the clock and the timezone are arguments. Anything that does not parse becomes `Help` with the
problem stated, so an operator always gets the help text back, never an error page.

    status | plan N | reserve START END USERS | unreserve ID | floor PROVIDER N [for DURATION]
    freeze [DURATION] [reason] | unfreeze | drain SERVER | history [N] [KIND] | help

Durations: 30m, 2h, 1d, 1h30m. Times: ISO-8601 (2026-11-24T08:00, offset optional), or a day word
(today, tomorrow, a weekday, a date 2026-11-24; French words too) followed by HH:MM or 8h30; an END
given as a bare HH:MM is on START's day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DURATION = timedelta(days=90)
MAX_USERS = 10_000_000


@dataclass(frozen=True, slots=True)
class Help:
    problem: str = ""  # why the text did not parse ("" when help was asked for)


@dataclass(frozen=True, slots=True)
class Status:
    pass


@dataclass(frozen=True, slots=True)
class Plan:
    users: int


@dataclass(frozen=True, slots=True)
class Reserve:
    starts_at: datetime
    ends_at: datetime
    users: int


@dataclass(frozen=True, slots=True)
class SetFloor:
    provider: str
    servers: int
    duration: timedelta | None  # None: until changed


@dataclass(frozen=True, slots=True)
class Freeze:
    duration: timedelta | None  # None: until unfrozen
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unfreeze:
    pass


@dataclass(frozen=True, slots=True)
class Drain:
    server: str


@dataclass(frozen=True, slots=True)
class History:
    """The last `limit` entries, of one `kind` when given (the history's kinds: tick, command, ...)."""

    limit: int = 15
    kind: str | None = None


#: `history`'s filters as operators type them -> the history's kinds. Server transitions crowd the
#: default view on a busy morning (a scale-up of 25 servers writes 75 of them).
HISTORY_KINDS = {
    "ticks": "tick",
    "checks": "tick",
    "commands": "command",
    "servers": "transition",
    "guard": "guard",
    "actions": "action",
    "notices": "notice",
    "certificates": "certificate",
}
MAX_HISTORY = 50


@dataclass(frozen=True, slots=True)
class Unreserve:
    reservation_id: str


Command = Help | Status | Plan | Reserve | Unreserve | SetFloor | Freeze | Unfreeze | Drain | History


class Unparsable(ValueError):
    """Raised inside the parser; turned into Help(problem) at the edge."""


_DURATION = re.compile(r"^(?:(\d{1,3})d)?(?:(\d{1,4})h)?(?:(\d{1,6})m(?:in)?)?$")
_CLOCK = re.compile(r"^(\d{1,2})(?::|h)(\d{2})?$")
_DAYS = {
    "today": 0,
    "aujourd'hui": 0,
    "tomorrow": 1,
    "demain": 1,
}
_WEEKDAYS = {
    name: index
    for index, names in enumerate(
        [
            ("monday", "mon", "lundi"),
            ("tuesday", "tue", "mardi"),
            ("wednesday", "wed", "mercredi"),
            ("thursday", "thu", "jeudi"),
            ("friday", "fri", "vendredi"),
            ("saturday", "sat", "samedi"),
            ("sunday", "sun", "dimanche"),
        ]
    )
    for name in names
}


def parse_duration(token: str) -> timedelta:
    """ "30m", "2h", "1d", "1h30m" -> a positive timedelta of at most MAX_DURATION."""
    found = _DURATION.match(token.lower())
    if not token or not found or not any(found.groups()):
        raise Unparsable(f"{token!r} is not a duration (like 30m, 2h, 1d)")
    days, hours, minutes = (int(g or 0) for g in found.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes)
    if not timedelta(0) < duration <= MAX_DURATION:
        raise Unparsable(f"duration {token!r} must be between 1 minute and 90 days")
    return duration


def _count(token: str, what: str, low: int = 1, high: int = MAX_USERS) -> int:
    if not token.isascii() or not token.isdigit():
        raise Unparsable(f"{what} must be a whole number, not {token!r}")
    value = int(token)
    if not low <= value <= high:
        raise Unparsable(f"{what} must be between {low} and {high}")
    return value


def _clock(token: str) -> time | None:
    found = _CLOCK.match(token.lower())
    if not found:
        return None
    hour, minute = int(found.group(1)), int(found.group(2) or 0)
    if hour > 23 or minute > 59:
        raise Unparsable(f"{token!r} is not a time of day")
    return time(hour, minute)


def _day(token: str, today: date) -> date | None:
    token = token.lower()
    if token in _DAYS:
        return today + timedelta(days=_DAYS[token])
    if token in _WEEKDAYS:
        return today + timedelta(days=(_WEEKDAYS[token] - today.weekday()) % 7)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", token):
        try:
            return date.fromisoformat(token)
        except ValueError:
            raise Unparsable(f"{token!r} is not a date") from None
    return None


def _take_time(
    tokens: list[str], i: int, on_day: date | None, now: datetime, zone: ZoneInfo
) -> tuple[datetime, int]:
    """Read one time expression at tokens[i]; return it (aware) and the index after it."""
    if i >= len(tokens):
        raise Unparsable("a time is missing")
    token = tokens[i]
    today = now.astimezone(zone).date()
    day = _day(token, today)
    if day is not None:
        clock = _clock(tokens[i + 1]) if i + 1 < len(tokens) else None
        if clock is None:
            raise Unparsable(f"{token!r} needs a time of day after it, like 08:00")
        return datetime.combine(day, clock, zone), i + 2
    clock = _clock(token)
    if clock is not None:
        return datetime.combine(on_day or today, clock, zone), i + 1
    try:
        moment = datetime.fromisoformat(token)
    except ValueError:
        raise Unparsable(f"{token!r} is not a time (ISO-8601, or like 'tomorrow 08:00')") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)), i + 1


def _reserve(args: list[str], now: datetime, zone: ZoneInfo) -> Reserve:
    if len(args) < 3:
        raise Unparsable("usage: reserve START END USERS")
    users = _count(args[-1], "USERS")
    times = args[:-1]
    starts, i = _take_time(times, 0, None, now, zone)
    ends, i = _take_time(times, i, starts.astimezone(zone).date(), now, zone)
    if i != len(times):
        raise Unparsable(f"unexpected {' '.join(times[i:])!r} before USERS")
    if ends <= starts:
        raise Unparsable("END must be after START")
    if ends <= now:
        raise Unparsable("END is already in the past")
    if ends - starts > timedelta(days=366):
        raise Unparsable("a reservation lasts at most 366 days")
    return Reserve(starts, ends, users)


def _optional_duration(args: list[str]) -> tuple[timedelta | None, list[str]]:
    """An optional leading "[for] DURATION"; returns it and the words after it."""
    if args and args[0].lower() == "for":
        if len(args) < 2:
            raise Unparsable("'for' needs a duration, like 2h")
        return parse_duration(args[1]), args[2:]
    if args and args[0][:1].isdigit():  # "freeze 2weeks" must not become an endless freeze
        return parse_duration(args[0]), args[1:]
    return None, args


def _history(args: list[str]) -> History:
    """history [N] [KIND], in either order: N from 1 to MAX_HISTORY, KIND a word of HISTORY_KINDS."""
    limit: int | None = None
    kind: str | None = None
    usage = f"usage: history [N] [{'|'.join(HISTORY_KINDS)}], N from 1 to {MAX_HISTORY}"
    for arg in args:
        word = arg.lower()
        if word.isascii() and word.isdigit() and limit is None:
            limit = _count(word, "N", 1, MAX_HISTORY)
        elif word in HISTORY_KINDS and kind is None:
            kind = HISTORY_KINDS[word]
        else:
            raise Unparsable(f"{arg[:20]!r}: {usage}")
    return History(limit or 15, kind)


def _parse(words: list[str], now: datetime, zone: ZoneInfo) -> Command:
    if not words:
        return Help()
    verb, args = words[0].lower(), words[1:]
    if verb in ("help", "?", "aide"):
        return Help()
    if verb in ("status", "unfreeze") and args:
        raise Unparsable(f"{verb} takes no arguments")
    if verb == "status":
        return Status()
    if verb == "unfreeze":
        return Unfreeze()
    if verb == "history":
        return _history(args)
    if verb == "plan":
        if len(args) != 1:
            raise Unparsable("usage: plan USERS")
        return Plan(_count(args[0], "USERS"))
    if verb == "reserve":
        return _reserve(args, now, zone)
    if verb == "floor":
        if len(args) < 2:
            raise Unparsable("usage: floor PROVIDER N [for DURATION]")
        duration, rest = _optional_duration(args[2:])
        if rest:
            raise Unparsable(f"unexpected {' '.join(rest)!r}")
        return SetFloor(args[0].lower(), _count(args[1], "N", low=0, high=100_000), duration)
    if verb == "freeze":
        duration, rest = _optional_duration(args)
        return Freeze(duration, " ".join(rest)[:200])
    if verb == "unreserve":
        if len(args) != 1 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", args[0]):
            raise Unparsable("usage: unreserve ID (a reservation's id, as `status` shows it)")
        return Unreserve(args[0])
    if verb == "drain":
        if len(args) != 1 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", args[0]):
            raise Unparsable("usage: drain SERVER (a server name, as `status` shows)")
        return Drain(args[0])
    raise Unparsable(f"unknown command {verb[:40]!r}")


def parse_command(text: str, now: datetime, timezone: str) -> Command:
    """Parse one chat line. Never raises: what does not parse is Help(problem)."""
    try:
        return _parse(text.split(), now, ZoneInfo(timezone))
    except Unparsable as problem:
        return Help(str(problem))
