"""Render getMeetings / getRecordings answers the way BBB does, for tests, fakes and benchmarks.

Shape from BBB's get-meetings.ftlx and the api docs example (docs/scalelite-and-bbb.md): every
count element, attendees with their flags, metadata, breakout fields. Options vary what a real server
may vary — whitespace, CDATA, element order — so the parser is tested against all of them.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from xml.sax.saxutils import escape

from chalicelib.domain.load import Meeting


@dataclass(frozen=True)
class Style:
    """How to write the XML: `pretty` indents, `cdata` wraps text in CDATA, `shuffle` reorders a
    meeting's children and the response's children, `attendees` writes one <attendee> per participant."""

    pretty: bool = False
    cdata: bool = False
    shuffle: bool = False
    attendees: bool = True


def _text(value: str, style: Style, rng: random.Random) -> str:
    if style.cdata and rng.random() < 0.5 and "]]>" not in value:
        return f"<![CDATA[{value}]]>"
    return escape(value)


def _attendee(index: int, meeting: Meeting, style: Style, rng: random.Random) -> str:
    moderator = index < meeting.moderators
    voice = index < meeting.voice
    listen = not voice and index < meeting.voice + meeting.listen_only
    video = index < meeting.video
    return (
        f"<attendee><userID>w_{index:06d}</userID>"
        f"<fullName>{_text(f'Pupil {index} & co', style, rng)}</fullName>"
        f"<role>{'MODERATOR' if moderator else 'VIEWER'}</role><isPresenter>{str(index == 0).lower()}</isPresenter>"
        f"<isListeningOnly>{str(listen).lower()}</isListeningOnly><hasJoinedVoice>{str(voice).lower()}</hasJoinedVoice>"
        f"<hasVideo>{str(video).lower()}</hasVideo><clientType>HTML5</clientType></attendee>"
    )


def render_meeting(
    meeting: Meeting, style: Style = Style(), rng: random.Random | None = None, parent_id: str = "parent-room"
) -> str:
    """One <meeting> element with every field BBB 2.7 writes."""
    rng = rng or random.Random(0)
    sep = "\n    " if style.pretty else ""
    children = [
        f"<meetingName>{_text(meeting.meeting_id + ' class', style, rng)}</meetingName>",
        f"<meetingID>{_text(meeting.meeting_id, style, rng)}</meetingID>",
        f"<internalMeetingID>{hashlib.sha1(meeting.meeting_id.encode()).hexdigest()}-{meeting.create_time_ms}</internalMeetingID>",
        f"<createTime>{meeting.create_time_ms}</createTime><createDate>Mon Nov 23 08:00:00 UTC 2026</createDate>",
        "<voiceBridge>70066</voiceBridge><dialNumber>613-555-1234</dialNumber>",
        "<attendeePW>ap</attendeePW><moderatorPW>mp</moderatorPW>",
        "<running>true</running><duration>0</duration><hasUserJoined>true</hasUserJoined>",
        "<recording>false</recording><hasBeenForciblyEnded>false</hasBeenForciblyEnded>",
        f"<startTime>{meeting.create_time_ms + 40}</startTime><endTime>0</endTime>",
        f"<participantCount>{meeting.participants}</participantCount>",
        f"<listenerCount>{meeting.listen_only}</listenerCount>",
        f"<voiceParticipantCount>{meeting.voice}</voiceParticipantCount>",
        f"<videoCount>{meeting.video}</videoCount>",
        "<maxUsers>0</maxUsers>",
        f"<moderatorCount>{meeting.moderators}</moderatorCount>",
        "<metadata><bbb-origin>greenlight</bbb-origin><meeting>meta named meeting</meeting></metadata>",
        f"<isBreakout>{str(meeting.is_breakout).lower()}</isBreakout>",
    ]
    if meeting.is_breakout:
        children.append(
            f"<parentMeetingID>{parent_id}</parentMeetingID><sequence>1</sequence><freeJoin>false</freeJoin>"
        )
    if style.attendees:
        people = "".join(_attendee(i, meeting, style, rng) for i in range(meeting.participants))
        children.append(f"<attendees>{people}</attendees>" if people else "<attendees/>")
    if style.shuffle:
        rng.shuffle(children)
    return (
        f"<meeting>{sep}{sep.join(children)}\n</meeting>"
        if style.pretty
        else f"<meeting>{''.join(children)}</meeting>"
    )


def render_get_meetings(
    meetings: list[Meeting] | tuple[Meeting, ...],
    style: Style = Style(),
    rng: random.Random | None = None,
    declaration: bool = True,
) -> str:
    """A whole getMeetings answer; no meetings gives BBB's noMeetings shape."""
    rng = rng or random.Random(0)
    sep = "\n" if style.pretty else ""
    if meetings:
        body = [f"<meetings>{sep}{sep.join(render_meeting(m, style, rng) for m in meetings)}{sep}</meetings>"]
    else:
        body = [
            "<meetings/>",
            "<messageKey>noMeetings</messageKey>",
            "<message>no meetings were found on this server</message>",
        ]
    children = ["<returncode>SUCCESS</returncode>", *body]
    if style.shuffle:
        rng.shuffle(children)
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if declaration else ""
    return f"{head}<response>{sep}{sep.join(children)}{sep}</response>"


def render_failed(key: str, message: str) -> str:
    """A FAILED answer, as BBB and Scalelite write it."""
    return (
        f"<response><returncode>FAILED</returncode><messageKey>{escape(key)}</messageKey>"
        f"<message>{escape(message)}</message></response>"
    )


def render_recordings(states: list[str]) -> str:
    """A getRecordings answer with one recording per state (shape: BBB api docs, getRecordings)."""
    if not states:
        return (
            "<response><returncode>SUCCESS</returncode><recordings/><messageKey>noRecordings</messageKey>"
            "<message>There are no recordings for the meeting(s).</message></response>"
        )
    items = "".join(
        f"<recording><recordID>rec-{i}</recordID><meetingID>room-{i}</meetingID><state>{state}</state>"
        f"<published>{str(state == 'published').lower()}</published><startTime>1</startTime><endTime>2</endTime>"
        f"<participants>3</participants><metadata><state>ignored</state></metadata>"
        f"<playback><format><type>presentation</type><url>https://bbb/p/{i}</url></format></playback></recording>"
        for i, state in enumerate(states)
    )
    return f"<response><returncode>SUCCESS</returncode><recordings>{items}</recordings></response>"


def big_fleet(rooms: int, participants: int, seed: int = 1) -> list[Meeting]:
    """`rooms` classes sharing `participants` pupils, with mics, webcams and some breakouts."""
    rng = random.Random(seed)
    per_room = participants // rooms
    found = []
    for i in range(rooms):
        size = per_room + (1 if i < participants - per_room * rooms else 0)
        voice = rng.randint(0, max(size // 3, 1)) if size else 0
        found.append(
            Meeting(
                meeting_id=f"room-{i:05d}",
                participants=size,
                moderators=min(1, size),
                voice=min(voice, size),
                listen_only=max(0, min(size - voice, size // 2)),
                video=min(rng.randint(0, 2), size),
                is_breakout=i % 50 == 49,
                create_time_ms=1_795_000_000_000 + i,
            )
        )
    return found
