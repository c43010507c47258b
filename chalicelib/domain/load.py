"""The load model: what BBB meetings cost a server, in load units.

Pure: no I/O, no clock. `now` is passed in. A *load unit* is roughly what one typical participant costs
a server; BBB's minimum server (8 cores, 16 GB; docs/scalelite-and-bbb.md) takes ~200 typical users, which the
default weights put at 300 units (the reference server, `chalicelib.load_units.REFERENCE_SERVER_UNITS`;
see `LoadWeights` in chalicelib/config.py and README "How a tick decides").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: the weights are settings (pydantic), the arithmetic here is pure
    from chalicelib.config import LoadWeights


@dataclass(frozen=True, slots=True)
class Meeting:
    """One running BBB meeting (a room), as getMeetings reports it. Attendee lists are not kept."""

    meeting_id: str
    participants: int = 0  # participantCount, moderators included
    moderators: int = 0  # moderatorCount
    voice: int = 0  # voiceParticipantCount: open mics / joined audio
    listen_only: int = 0  # listenerCount
    video: int = 0  # videoCount: webcam streams published in the room
    is_breakout: bool = False
    create_time_ms: int = 0  # createTime, epoch milliseconds
    server: str | None = None  # the server that hosts it, when observed per server

    def age_minutes(self, now: datetime) -> float:
        """Minutes since the room was created; a room with no createTime counts as old."""
        if self.create_time_ms <= 0:
            return float("inf")
        return max(0.0, now.timestamp() - self.create_time_ms / 1000.0) / 60.0


@dataclass(frozen=True, slots=True)
class LoadTotals:
    """Plain sums over meetings: the `load --json` figures of docs/contract.md, minus load_units."""

    meetings: int = 0
    breakout_rooms: int = 0
    participants: int = 0
    moderators: int = 0
    voice: int = 0
    listen_only: int = 0
    video_streams: int = 0

    @classmethod
    def of(cls, meetings: Iterable[Meeting]) -> LoadTotals:
        """The sums, in one pass (a replay totals ~2,000 rooms a minute)."""
        count = breakouts = participants = moderators = voice = listen_only = video = 0
        for m in meetings:
            count += 1
            if m.is_breakout:
                breakouts += 1
            participants += m.participants
            moderators += m.moderators
            voice += m.voice
            listen_only += m.listen_only
            video += m.video
        return cls(count, breakouts, participants, moderators, voice, listen_only, video)


@dataclass(frozen=True, slots=True)
class LoadSnapshot:
    """Every meeting seen by one observation. `complete` is False when some server could not be read:
    a partial snapshot may justify scaling up, never scaling down. `from_servers`: read from each
    server's own getMeetings because Scalelite's failed (the team is told when that starts and ends)."""

    meetings: tuple[Meeting, ...] = ()
    complete: bool = True
    problems: tuple[str, ...] = field(default=())
    from_servers: bool = False  # read from each server's own getMeetings, not Scalelite's

    @property
    def totals(self) -> LoadTotals:
        return LoadTotals.of(self.meetings)


def meeting_units(meeting: Meeting, weights: LoadWeights, now: datetime | float) -> float:
    """Load units of one room. Breakout rooms are costed like any room (they are real rooms on a server).
    `now` may be given as a POSIX timestamp (summing thousands of rooms converts it once)."""
    now_ts = now if isinstance(now, float) else now.timestamp()
    participants = meeting.participants
    young = (
        meeting.create_time_ms > 0
        and (now_ts - meeting.create_time_ms / 1000.0) / 60.0 < weights.young_room_minutes
    )
    if young:
        participants = max(participants, weights.young_room_participants)
    viewers = max(participants - 1, 0)  # a publisher does not receive its own stream
    delivered = meeting.video * viewers
    return (
        weights.room
        + weights.participant * participants
        + weights.voice * meeting.voice
        + weights.listen_only * meeting.listen_only
        + weights.webcam * meeting.video
        + weights.delivered_webcam * delivered
    )


class RoomCounts(Protocol):
    """What the load model reads of a room: a domain `Meeting`, or the simulator's own record of one."""

    # Read-only properties, so that a frozen `Meeting` fits as well as a mutable record.
    @property
    def participants(self) -> int: ...
    @property
    def voice(self) -> int: ...
    @property
    def listen_only(self) -> int: ...
    @property
    def video(self) -> int: ...
    @property
    def create_time_ms(self) -> int: ...


def room_costs(rooms: Iterable[RoomCounts], weights: LoadWeights, now: datetime | float) -> list[float]:
    """`meeting_units` of each room, in order, with the weights read once: summing thousands of rooms a
    minute (a week's replay) spends its time in per-call overhead, not arithmetic. The arithmetic is
    `meeting_units`' own, term by term in the same order, so each figure is bit-identical to it (a
    property test holds the two together)."""
    now_ts = now if isinstance(now, float) else now.timestamp()
    room, per_user, per_voice = weights.room, weights.participant, weights.voice
    per_listener, per_webcam, per_copy = weights.listen_only, weights.webcam, weights.delivered_webcam
    young_minutes, young_users = weights.young_room_minutes, weights.young_room_participants
    costs: list[float] = []
    cost = costs.append
    for m in rooms:
        participants = m.participants
        if participants < young_users:  # only then can youth matter: the age is worked out for these alone
            created = m.create_time_ms
            if created > 0 and (now_ts - created / 1000.0) / 60.0 < young_minutes:
                participants = young_users
        video = m.video
        viewers = participants - 1 if participants > 1 else 0
        cost(
            room
            + per_user * participants
            + per_voice * m.voice
            + per_listener * m.listen_only
            + per_webcam * video
            + per_copy * (video * viewers)
        )
    return costs


def at_real_size(weights: LoadWeights) -> LoadWeights:
    """The weights without Scalelite's young-room allowance: what a room really costs (overload, what a
    room weighed), not where Scalelite places it."""
    return weights.model_copy(update={"young_room_participants": 0})


def is_young(m: RoomCounts, weights: LoadWeights, now: float) -> bool:
    """Whether a room is younger than `young_room_minutes` at `now` (POSIX seconds): Scalelite counts it
    as at least `young_room_participants` users."""
    return bool(m.create_time_ms) and now * 1000 - m.create_time_ms < weights.young_room_minutes * 60_000


def sized_from_memory(
    rooms: list[Meeting], costs: list[float], known: Mapping[str, float], weights: LoadWeights, now: float
) -> tuple[list[float], int]:
    """(`costs` with each young room in `known` at the size its own past sessions reached, at least what it
    weighs now, the number of rooms so sized). Scalelite's allowance of `young_room_participants` users
    for a room younger than `young_room_minutes` is its guess for a room it knows nothing of; bbbscale
    knows a room that comes back every week under its meetingID (README "Load units"): 3,000
    tutoring pairs counted as 15 users each rented 145 hourly servers that carried nothing, for the
    second of two sessions of the same rooms as for the first."""
    if not known:
        return costs, 0
    real = at_real_size(weights)
    sized = list(costs)
    count = 0
    for i, m in enumerate(rooms):
        past = known.get(m.meeting_id)
        if past is None or not is_young(m, weights, now):
            continue
        sized[i] = max(meeting_units(m, real, now), past)
        count += 1
    return sized, count


def spreadable_units(costs: list[float], largest: float) -> float | None:
    """The load servers can share, each room at most `largest` (the largest server's capacity: a room is
    never split, so one heavier than any server is one full server whatever the fleet), or None when no
    room is that heavy (the load is then its own sum, as its caller adds it up). The planner's need,
    what the forecast learns and the simulator's oracle all count rooms this way."""
    if not any(cost > largest for cost in costs):
        return None
    return sum(min(cost, largest) for cost in costs)


def snapshot_units(snapshot: LoadSnapshot, weights: LoadWeights, now: datetime) -> float:
    """Total load units of every meeting in the snapshot (the sum of `meeting_units`, in order)."""
    return sum(room_costs(snapshot.meetings, weights, now.timestamp()))


def units_per_user(weights: LoadWeights, webcam_ratio: float, mic_ratio: float, room_size: float) -> float:
    """Average units of one user in a mix: rooms of `room_size`, a share of users on webcam and on mic,
    the rest listen-only. Used by `plan` and reservations to turn "N users" into load units."""
    room_size = max(room_size, 1.0)
    per_room_webcams = webcam_ratio * room_size
    room = (
        weights.room
        + weights.participant * room_size
        + weights.voice * mic_ratio * room_size
        + weights.listen_only * (1.0 - mic_ratio) * room_size
        + weights.webcam * per_room_webcams
        + weights.delivered_webcam * per_room_webcams * max(room_size - 1, 0)
    )
    return room / room_size


def totals_json(t) -> dict:
    """The counted part of `load --json` (rooms, people, mics, listeners, webcam streams)."""
    return {
        "meetings": t.meetings,
        "breakout_rooms": t.breakout_rooms,
        "participants": t.participants,
        "moderators": t.moderators,
        "voice": t.voice,
        "listen_only": t.listen_only,
        "video_streams": t.video_streams,
    }


def load_report(
    snapshot: LoadSnapshot, weights: LoadWeights, now: datetime, units: float | None = None
) -> dict:
    """The `load --json` of docs/contract.md (`units`: the snapshot's load units, if already known)."""
    return {
        **totals_json(snapshot.totals),
        "load_units": float(
            round(snapshot_units(snapshot, weights, now) if units is None else units, 2)
        ),  # 0.0, never int 0
    }
