"""A school-week trace generator, calibrated on the seed's figures (`SEED`).

Pure and reproducible: a seeded `random.Random`, no clock. Classes start on the hour (French secondary
school: 08:00-11:00 and 13:00-16:00, Wednesday afternoon light); each slot holds a share of the day's
peak rooms (`SHAPE`); a session lasts one lesson (45-58 min) or a double lesson (100-110 min); some
start a few minutes early or late; rooms hold 2-40 users (mean ~15), ~37% on open mic, ~0.55 webcam per
room. Rooms are a pool of class groups' rooms (meeting_ids) reused lesson after lesson, never two
sessions of one room at once. A school's timetable is the same every week: a room comes back on the
same weekday at the same time under the same meeting_id, its size around its own mean (as a
Greenlight room of a class group does), so history per room can be learned. Days off are the caller's
business: pass only the days to generate.

Variants that depart from the timetable, for the "learns without being told" check (`VARIANTS`):
`half-past` (every class 30 min later) and `friday-surge` (an unusual Friday afternoon, twice the rooms).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from bbbsim.traces import TraceMeeting

#: The seed's figures (peak simultaneous, and per school day). Daily users are session-users: see
#: bbbsim.traces.TraceFigures.
SEED = {
    "peak_users": 15_000,
    "peak_rooms": 1_000,
    "peak_webcams": 550,
    "peak_mics": 5_500,
    "daily_users": 60_000,
    "daily_rooms": 1_700,
}

#: Share of the peak rooms busy in each slot. Measured on generated Tuesdays: peak rooms ~1,000,
#: ~4,000 sessions (~60,000 session-users) and ~1,700 distinct rooms a day (tests/unit/test_traces.py).
SHAPE = {
    "08:00": 0.55,
    "09:00": 0.85,
    "10:00": 1.0,
    "11:00": 0.75,
    "13:00": 0.27,
    "14:00": 0.55,
    "15:00": 0.47,
    "16:00": 0.22,
}
WEDNESDAY = {"08:00": 0.55, "09:00": 0.80, "10:00": 0.85, "11:00": 0.65, "13:00": 0.04, "14:00": 0.03}
DAY_FACTOR = {0: 0.95, 1: 1.0, 2: 1.0, 3: 1.0, 4: 0.9}
VARIANTS = ("timetable", "half-past", "friday-surge")
POOL_ROOMS = 1_700  # class groups' rooms at scale 1
DOUBLE_SHARE = 0.15


class _Rooms:
    """The pool of rooms: which are free from when. Grows if a slot needs more rooms than it holds."""

    def __init__(self, size: int, rng: random.Random):
        self.rng = rng
        self.free = [f"room-{i:05d}" for i in range(size)]
        self.busy: list[tuple[datetime, str]] = []  # (end, room)
        self.count = size

    def release(self, before: datetime) -> None:
        still = []
        for end, room in self.busy:
            if end < before:
                self.free.append(room)
            else:
                still.append((end, room))
        self.busy = still

    def take(self, end: datetime) -> str:
        if self.free:
            index = self.rng.randrange(len(self.free))
            self.free[index], self.free[-1] = self.free[-1], self.free[index]
            room = self.free.pop()
        else:
            room, self.count = f"room-{self.count:05d}", self.count + 1
        self.busy.append((end, room))
        return room


@dataclass(frozen=True)
class _Room:
    """A class group's room: what it is like from week to week (its own mean size, its share of open
    mics, how likely a webcam is on). Drawn from the school and the room's id only, so the room is the
    same in every week's trace."""

    mean: float
    voice_share: float
    webcam: float


@lru_cache(maxsize=65536)
def _room(school: int, room: str) -> _Room:
    rng = random.Random(f"{school}:{room}")
    mean = 2 + 38 * rng.betavariate(2.0, 3.85)
    return _Room(mean, rng.uniform(0.2, 0.53), 0.37 if rng.random() < 0.75 else 0.5)


def _session(rng: random.Random, school: int, room: str, start: datetime, minutes: int) -> TraceMeeting:
    """One session of `room`: its size around the room's own mean (this week's `rng` draws the noise)."""
    like = _room(school, room)
    participants = min(40, max(2, round(like.mean * rng.uniform(0.85, 1.15))))
    voice = round(participants * min(0.6, max(0.1, like.voice_share + rng.uniform(-0.05, 0.05))))
    video = (rng.random() < like.webcam) + (rng.randint(1, 3) if rng.random() < 0.08 else 0)
    end = start + timedelta(minutes=minutes)
    return TraceMeeting(room, start, end, participants, voice, min(video, participants), participants - voice)


def _shape(day: date, variant: str) -> dict[str, float]:
    shape = dict(WEDNESDAY if day.weekday() == 2 else SHAPE)
    if variant == "friday-surge" and day.weekday() == 4:
        shape.update({"14:00": 1.2, "15:00": 1.1, "16:00": 0.6})
    return shape


def _day(
    rng: random.Random,
    day: date,
    scale: float,
    variant: str,
    tz: tzinfo,
    peak_rooms: float,
    school: int = 0,
    shift_minutes: int = 0,
) -> list[TraceMeeting]:
    """One day: the school's timetable for that weekday (which rooms, when, how long: the same every
    week, drawn from `school`, the weekday, the scale and the shape), each session sized by this week's
    `rng` around its room's mean; ~3 % of sessions do not happen this week."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown trace variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    if day.weekday() >= 5:
        return []
    shape = _shape(day, variant)
    plan = random.Random(f"{school}:{day.weekday()}:{scale}:{sorted(shape.items())}")
    rooms = _Rooms(round(POOL_ROOMS * scale), plan)
    if variant == "half-past":
        shift_minutes += 30
    meetings: list[TraceMeeting] = []
    planned: list[tuple[datetime, datetime]] = []
    factor = DAY_FACTOR[day.weekday()] * scale
    for hhmm, share in sorted(shape.items()):
        slot = datetime.combine(day, time.fromisoformat(hhmm), tzinfo=tz)
        rooms.release(before=slot - timedelta(minutes=5))  # starts are at most 4 min early: no overlap
        settled = slot + timedelta(minutes=20)
        carried = sum(1 for start, end in planned if start <= settled < end)
        for _ in range(max(0, round(peak_rooms * share * factor) - carried)):
            roll = plan.random()
            offset = 0 if roll < 0.6 else plan.randint(-4, -1) if roll < 0.75 else plan.randint(1, 9)
            minutes = plan.randint(100, 110) if plan.random() < DOUBLE_SHARE else plan.randint(45, 58)
            start = slot + timedelta(minutes=offset)
            room = rooms.take(start + timedelta(minutes=minutes))
            planned.append((start, start + timedelta(minutes=minutes)))
            if rng.random() < 0.03:
                continue  # this class does not meet this week
            meetings.append(_session(rng, school, room, start + timedelta(minutes=shift_minutes), minutes))
    return meetings


def _check(scale: float) -> None:
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")


def generate_day(
    day: date,
    seed: int,
    scale: float = 1.0,
    variant: str = "timetable",
    tz: str | tzinfo = "Europe/Paris",
    school: int = 0,
    shift_minutes: int = 0,
) -> list[TraceMeeting]:
    """One school day's sessions (none on a weekend), sorted by start. `scale` multiplies rooms (peak
    and daily), not room sizes: scale 1 is the seed's ~15,000 peak users. The same `school` and weekday
    give the same rooms at the same times every week (`seed` draws this week's sizes around each room's
    mean); `shift_minutes` moves the whole day (a late start)."""
    _check(scale)
    rng = random.Random(seed)
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return sorted(_day(rng, day, scale, variant, zone, SEED["peak_rooms"], school, shift_minutes), key=_order)


def generate_week(
    start_monday: date,
    seed: int,
    scale: float = 1.0,
    variant: str = "timetable",
    tz: str | tzinfo = "Europe/Paris",
    days_off: frozenset[date] = frozenset(),
    school: int = 0,
    day_scale: dict[date, float] | None = None,
    shifts: dict[date, int] | None = None,
) -> list[TraceMeeting]:
    """Monday to Friday from `start_monday` (skipping `days_off`), sorted by start. Scale 1: ~19,000
    sessions; scale 1.6 reaches the ~30,000 sessions of the replay benchmark. Rooms recur weekly (same
    `school`: same meeting_id, weekday and time, size around the room's own mean). Departures nobody
    announced: `day_scale` multiplies one day's rooms (2.0: an unannounced doubling), `shifts` moves a
    day's classes by minutes (a late start)."""
    _check(scale)
    if start_monday.weekday() != 0:
        raise ValueError(f"start_monday {start_monday.isoformat()} is not a Monday")
    rng = random.Random(seed)
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    meetings: list[TraceMeeting] = []
    for offset in range(5):
        day = start_monday + timedelta(days=offset)
        if day not in days_off:
            day_size = scale * (day_scale or {}).get(day, 1.0)
            shift = (shifts or {}).get(day, 0)
            meetings += _day(rng, day, day_size, variant, zone, SEED["peak_rooms"], school, shift)
    return sorted(meetings, key=_order)


def generate_closure_day(
    day: date, seed: int, peak_users: float = 80_000, tz: str | tzinfo = "Europe/Paris"
) -> list[TraceMeeting]:
    """A regional school-closure order: a normal timetable day with `peak_users` simultaneous users
    (80,000 by default, over five times the seed's peak), every class moved online at once."""
    return generate_day(day, seed, scale=peak_users / SEED["peak_users"], tz=tz)


def _order(meeting: TraceMeeting) -> tuple[datetime, str]:
    return meeting.start, meeting.meeting_id
