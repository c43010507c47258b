"""Trace files: the meetings a replay feeds the simulated fleet (docs/contract.md "Trace files").

CSV with a header, one row per meeting session: `meeting_id,start,end,participants,voice,video,listen_only`,
start/end ISO-8601 with a UTC offset, the counts being the session's steady size. A `meeting_id` is the
BBB meetingID of a room, so it may come back in later rows (a class group's room used by each lesson of
the day), but two sessions of one room never overlap. Extra columns are ignored (the format only grows).

Also here: the figures a trace is calibrated on (`trace_figures`) and its load, minute by minute
(`load_series`). The school-week generator that writes such traces is bbbsim/schoolday.py.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from chalicelib.adapters.scalelite.parse import MAX_ROOM_COUNT
from chalicelib.config import LoadWeights
from chalicelib.domain.load import Meeting, meeting_units
from chalicelib.ports import BbbscaleError

FIELDS = ("meeting_id", "start", "end", "participants", "voice", "video", "listen_only")
COUNTS = ("participants", "voice", "video", "listen_only")


#: The dates a trace's times may carry: outside them a time is a typo (0001-01-01, 9999-12-31 ran the
#: simulator's clock out of range, a traceback) rather than a recording of classes.
YEARS = (1971, 2999)
#: The longest span a trace may cover, first start to last end: a school year and then some. A replay
#: simulates every minute of it (a week takes a minute or two), so a year's trace is already an hour.
MAX_SPAN = timedelta(days=400)
#: The most one session may count in any field: the bound getMeetings answers are read with (one room
#: of 10^11 participants asked the simulator for ~10 GB of joins).
MAX_COUNT = MAX_ROOM_COUNT


class TraceError(BbbscaleError):
    """A trace file that cannot be replayed; the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class TraceMeeting:
    """One session of a room: from `start` to `end` (aware datetimes) at its steady size. `voice` are
    open mics (voiceParticipantCount), `listen_only` listen-only users, `video` webcam streams."""

    meeting_id: str
    start: datetime
    end: datetime
    participants: int
    voice: int = 0
    video: int = 0
    listen_only: int = 0

    @property
    def minutes(self) -> float:
        """How long the session lasts, in minutes."""
        return (self.end - self.start).total_seconds() / 60.0


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _parse_row(row: dict, where: str) -> TraceMeeting:
    if None in row:
        raise TraceError(f"{where}: more values than the header has columns")
    missing = [name for name in FIELDS if row.get(name) is None]
    if missing:
        raise TraceError(f"{where}: field {missing[0]!r} is missing")
    meeting_id = row["meeting_id"].strip()
    if not meeting_id:
        raise TraceError(f"{where}: field 'meeting_id' is empty")
    times = {}
    for name in ("start", "end"):
        raw = row[name].strip()
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise TraceError(f"{where}: field {name!r} is not an ISO-8601 time: {_short(raw)}") from None
        if moment.utcoffset() is None:
            raise TraceError(f"{where}: field {name!r} has no UTC offset: {_short(raw)}")
        if not YEARS[0] <= moment.year <= YEARS[1]:
            raise TraceError(
                f"{where}: field {name!r} is not in the years {YEARS[0]}-{YEARS[1]}: {_short(raw)}"
            )
        times[name] = moment
    if times["end"] <= times["start"]:
        raise TraceError(
            f"{where}: field 'end' ({row['end'].strip()}) is not after start ({row['start'].strip()})"
        )
    counts = {}
    for name in COUNTS:
        raw = row[name].strip()
        if not (raw.isascii() and raw.isdigit()):
            raise TraceError(f"{where}: field {name!r} is not a whole number >= 0: {_short(raw)}")
        if len(raw) > 9 or int(raw) > MAX_COUNT:
            raise TraceError(f"{where}: field {name!r} is over {MAX_COUNT:,} (one room): {_short(raw)}")
        counts[name] = int(raw)
    if counts["voice"] + counts["listen_only"] > counts["participants"]:
        raise TraceError(
            f"{where}: field 'voice' + 'listen_only' exceeds 'participants' ({counts['participants']})"
        )
    return TraceMeeting(meeting_id, times["start"], times["end"], **counts)


def parse_trace(text: str, source: str = "trace") -> list[TraceMeeting]:
    """Parse a trace document; one TraceError names the first bad line and field. Sessions come back
    sorted by start."""
    # Excel's "CSV UTF-8" starts the file with a byte-order mark, and hand-written headers put a space
    # after each comma: neither is a column name (it was "header lacks meeting_id" on such a file).
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
    header = reader.fieldnames
    absent = [name for name in FIELDS if name not in header]
    if absent:
        raise TraceError(f"{source}: line 1: header lacks {', '.join(absent)}; expected {','.join(FIELDS)}")
    meetings: list[TraceMeeting] = []
    lines: list[int] = []
    for row in reader:
        line = reader.line_num
        meetings.append(
            _parse_row(row, f"{source}: line {line} (meeting {_short(str(row.get('meeting_id')))})")
        )
        lines.append(line)
    if meetings:
        first = min(meetings, key=lambda m: m.start)
        last = max(meetings, key=lambda m: m.end)
        if last.end - first.start > MAX_SPAN:
            raise TraceError(
                f"{source}: line {lines[meetings.index(last)]}: field 'end': the trace spans "
                f"{(last.end - first.start).days} days from line {lines[meetings.index(first)]}, more than "
                f"{MAX_SPAN.days}: split it"
            )
    by_room: dict[str, list[int]] = defaultdict(list)
    for index, meeting in enumerate(meetings):
        by_room[meeting.meeting_id].append(index)
    for room, indexes in by_room.items():
        indexes.sort(key=lambda i: meetings[i].start)
        for a, b in zip(indexes, indexes[1:]):
            if meetings[b].start < meetings[a].end:
                raise TraceError(
                    f"{source}: line {lines[b]}: field 'start': meeting {_short(room)} is already running "
                    f"(line {lines[a]} ends {meetings[a].end.isoformat()})"
                )
    return sorted(meetings, key=lambda m: (m.start, m.meeting_id))


def read_trace(path: str | Path) -> list[TraceMeeting]:
    """Read a trace file; TraceError names the file, line and field of the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TraceError(f"cannot read trace {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not UTF-8 text") from None
    return parse_trace(text, source=str(path))


def format_trace(meetings: Iterable[TraceMeeting]) -> str:
    """The CSV text of a trace, header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for m in meetings:
        writer.writerow(
            (
                m.meeting_id,
                m.start.isoformat(),
                m.end.isoformat(),
                m.participants,
                m.voice,
                m.video,
                m.listen_only,
            )
        )
    return out.getvalue()


def write_trace(path: str | Path, meetings: Iterable[TraceMeeting]) -> None:
    """Write a trace file that `read_trace` reads back unchanged."""
    Path(path).write_text(format_trace(meetings), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class TraceFigures:
    """What the seed's figures describe: simultaneous peaks (each its own maximum over minutes) and the
    day's totals. `sessions_users` sums each session's participants (a pupil in four lessons counts
    four times: a trace knows rooms, not people); `rooms` counts distinct meeting_ids."""

    peak_users: int
    peak_rooms: int
    peak_webcams: int
    peak_mics: int
    sessions: int
    session_users: int
    rooms: int


def _minute(moment: datetime) -> int:
    """Whole minutes since the epoch."""
    return _epoch_minute(moment, moment.fold)


@lru_cache(maxsize=65536)
def _epoch_minute(moment: datetime, fold: int) -> int:
    """Remembered: a school week's ~30,000 sessions start and end at a few hundred moments of the
    timetable, and `timestamp()` of a zoned datetime is slow. Equal datetimes are the same instant, except
    in a repeated hour (equality ignores `fold` within one zone): hence the fold in the key."""
    return int(moment.timestamp() // 60)


def _sweep(deltas: dict[int, list[float]], width: int) -> list[float]:
    running, best = [0.0] * width, [0.0] * width
    for minute in sorted(deltas):
        for i, change in enumerate(deltas[minute]):
            running[i] += change
            best[i] = max(best[i], running[i])
    return best


def trace_figures(meetings: Iterable[TraceMeeting]) -> TraceFigures:
    """Peaks and totals of a trace (all of it: pass one day's sessions for daily figures)."""
    deltas: dict[int, list[float]] = defaultdict(lambda: [0.0] * 4)
    sessions = users = 0
    rooms = set()
    for m in meetings:
        sessions += 1
        users += m.participants
        rooms.add(m.meeting_id)
        for minute, sign in ((_minute(m.start), 1), (_minute(m.end), -1)):
            row = deltas[minute]
            row[0] += sign * m.participants
            row[1] += sign
            row[2] += sign * m.video
            row[3] += sign * m.voice
    peaks = _sweep(deltas, 4)
    peak_users, peak_rooms, peak_webcams, peak_mics = (int(p) for p in peaks)
    return TraceFigures(
        peak_users,
        peak_rooms,
        peak_webcams,
        peak_mics,
        sessions=sessions,
        session_users=users,
        rooms=len(rooms),
    )


def steady_units(meeting: TraceMeeting, weights: LoadWeights, young: bool = False) -> float:
    """Load units of a session at its steady size (chalicelib.domain.load's model), or while it is young
    (Scalelite's rule, which the load model follows: a fresh room counts at least 15 users)."""
    participants = meeting.participants
    if young:
        participants = max(participants, weights.young_room_participants)
    room = Meeting(
        meeting.meeting_id,
        participants=participants,
        voice=meeting.voice,
        listen_only=meeting.listen_only,
        video=meeting.video,
    )  # no createTime: counts as old
    return meeting_units(room, weights, 0.0)  # so the time is never read: any will do


def load_series(meetings: Iterable[TraceMeeting], weights: LoadWeights) -> list[tuple[datetime, float]]:
    """The trace's load units minute by minute (UTC), from the first start to the last end, each session
    at its steady size and at the young-room size for its first minutes. The simulator ramps joins, so
    its measured load is at most this; feed the oracle the replay's own series when there is one."""
    deltas: dict[int, float] = defaultdict(float)
    young = timedelta(minutes=weights.young_room_minutes)
    costs: dict[tuple[int, int, int, int], tuple[float, float]] = {}  # counts -> (steady, young) units
    for m in meetings:
        counts = (m.participants, m.voice, m.listen_only, m.video)  # all a session's units depend on here
        cost = costs.get(counts)
        if cost is None:
            cost = costs[counts] = (steady_units(m, weights), steady_units(m, weights, young=True))
        grown = min(m.start + young, m.end)
        first, last, steady = _minute(m.start), _minute(m.end), cost[0]
        if grown > m.start:
            middle = _minute(grown)
            boost = cost[1] - steady
            deltas[first] += boost
            deltas[middle] -= boost
        deltas[first] += steady
        deltas[last] -= steady
    if not deltas:
        return []
    series, running = [], 0.0
    for minute in range(min(deltas), max(deltas) + 1):
        running += deltas.get(minute, 0.0)
        series.append((datetime.fromtimestamp(minute * 60, tz=UTC), round(max(running, 0.0), 6)))
    return series


def history_profile(settings, traces):
    """A profile learned from whole traces (the demo's and the simulator's "last weeks")."""
    from chalicelib.domain.forecast import LoadProfile
    from chalicelib.service.forecasting import BUCKET_MINUTES

    samples = [point for trace in traces for point in load_series(trace, settings.weights)]
    return LoadProfile.from_samples(
        samples, settings.timezone, settings.forecast.history_weeks, BUCKET_MINUTES
    )
