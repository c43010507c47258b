"""BBB and Scalelite API answers rendered as the real servers render them.

Shapes follow BBB's FreeMarker templates (bigbluebutton-web get-meetings.ftlx, api docs) and Scalelite's
Nokogiri builders (bigbluebutton_api_controller.rb, application_controller.rb). Text goes through lxml,
so names and metadata are always escaped. The simulated attendees are synthetic but consistent with
the counts: the first `moderators` are MODERATOR, `voice` have joined audio, `listen_only` listen only,
`video` have a webcam.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime

from lxml import etree

from bbbsim.world import SimMeeting

_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
NO_MEETINGS = "no meetings were found on this server"


def _doc(returncode: str = "SUCCESS") -> etree._Element:
    root = etree.Element("response")
    etree.SubElement(root, "returncode").text = returncode
    return root


def _add(parent: etree._Element, tag: str, value) -> etree._Element:
    node = etree.SubElement(parent, tag)
    if isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:
        node.text = str(value)
    return node


def _bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def java_date(moment: datetime) -> str:
    """createDate as Java's Date.toString() prints it, e.g. 'Mon Nov 23 08:00:00 UTC 2026'."""
    return moment.astimezone(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def _attendees(parent: etree._Element, meeting: SimMeeting) -> None:
    attendees = etree.SubElement(parent, "attendees")
    voice_left, listen_left, video_left = meeting.voice, meeting.listen_only, meeting.video
    for n in range(meeting.participants):
        person = etree.SubElement(attendees, "attendee")
        on_voice = voice_left > 0
        listening = not on_voice and listen_left > 0
        voice_left -= on_voice
        listen_left -= listening
        has_video = video_left > 0
        video_left -= has_video
        _add(person, "userID", f"w_{meeting.meeting_id[:12]}_{n + 1}")
        _add(person, "fullName", f"User {n + 1}")
        _add(person, "role", "MODERATOR" if n < meeting.moderators else "VIEWER")
        _add(person, "isPresenter", n == 0)
        _add(person, "isListeningOnly", listening)
        _add(person, "hasJoinedVoice", on_voice)
        _add(person, "hasVideo", has_video)
        _add(person, "clientType", "HTML5")


def _meeting(parent: etree._Element, meeting: SimMeeting, children: list[str], attendees: bool) -> None:
    node = etree.SubElement(parent, "meeting")
    for tag, value in (
        ("meetingName", meeting.name or meeting.meeting_id),
        ("meetingID", meeting.meeting_id),
        ("internalMeetingID", meeting.internal_id),
        ("createTime", meeting.create_time_ms),
        ("createDate", java_date(meeting.create_time)),
        ("voiceBridge", meeting.voice_bridge),
        ("dialNumber", "613-555-1234"),
        ("attendeePW", "ap"),
        ("moderatorPW", "mp"),
        ("running", True),
        ("duration", 0),
        ("hasUserJoined", meeting.participants > 0),
        ("recording", False),
        ("hasBeenForciblyEnded", False),
        ("startTime", meeting.create_time_ms),
        ("endTime", 0),
        ("participantCount", meeting.participants),
        ("listenerCount", meeting.listen_only),
        ("voiceParticipantCount", meeting.voice),
        ("videoCount", meeting.video),
        ("maxUsers", 0),
        ("moderatorCount", meeting.moderators),
    ):
        _add(node, tag, value)
    if attendees:
        _attendees(node, meeting)
    else:
        etree.SubElement(node, "attendees")
    metadata = etree.SubElement(node, "metadata")
    for key, value in meeting.metadata.items():
        if _XML_NAME.match(key):  # BBB only keeps meta_ names that are valid XML element names
            _add(metadata, key, value)
    _add(node, "isBreakout", meeting.is_breakout)
    if meeting.is_breakout:
        _add(node, "parentMeetingID", meeting.parent_id)
        _add(node, "sequence", meeting.sequence)
        _add(node, "freeJoin", False)
    elif children:
        rooms = etree.SubElement(node, "breakoutRooms")
        for child in children:
            _add(rooms, "breakout", child)


_FRAGMENTS: OrderedDict[tuple, bytes] = OrderedDict()
_FRAGMENT_CACHE_SIZE = 50_000


def _fragment(meeting: SimMeeting, children: list[str], attendees: bool) -> bytes:
    """One `<meeting>` element as bytes, cached by everything it shows: a fleet of a thousand rooms
    re-renders only the rooms whose counts changed since the last call (the demo polls every minute)."""
    key = (
        meeting.meeting_id,
        meeting.internal_id,
        meeting.name,
        meeting.participants,
        meeting.moderators,
        meeting.voice,
        meeting.video,
        meeting.listen_only,
        meeting.is_breakout,
        meeting.parent_id,
        meeting.sequence,
        meeting.voice_bridge,
        tuple(sorted(meeting.metadata.items())),
        tuple(children),
        attendees,
    )
    cached = _FRAGMENTS.get(key)
    if cached is None:
        holder = etree.Element("meetings")
        _meeting(holder, meeting, children, attendees)
        cached = etree.tostring(holder[0], encoding="UTF-8").split(b"?>", 1)[-1]
        _FRAGMENTS[key] = cached
        if len(_FRAGMENTS) > _FRAGMENT_CACHE_SIZE:
            _FRAGMENTS.popitem(last=False)
    else:
        _FRAGMENTS.move_to_end(key)
    return cached


def meetings_xml(meetings: Iterable[SimMeeting], style: str = "bbb", attendees: bool = True) -> bytes:
    """A getMeetings answer. With no meetings: BBB puts `<meetings/>` before messageKey/message,
    Scalelite after them (its `no_meetings_response`)."""
    meetings = list(meetings)
    if not meetings:
        return no_meetings_xml(style)
    children: dict[str, list[str]] = {}
    for m in meetings:
        if m.is_breakout and m.parent_id:
            children.setdefault(m.parent_id, []).append(m.internal_id)
    body = b"".join(_fragment(m, children.get(m.meeting_id, []), attendees) for m in meetings)
    return (
        b"<?xml version='1.0' encoding='UTF-8'?>\n<response><returncode>SUCCESS</returncode><meetings>"
        + body
        + b"</meetings></response>"
    )


def no_meetings_xml(style: str = "bbb") -> bytes:
    root = _doc()
    if style == "bbb":
        etree.SubElement(root, "meetings")
    _add(root, "messageKey", "noMeetings")
    _add(root, "message", NO_MEETINGS)
    if style != "bbb":
        etree.SubElement(root, "meetings")
    return _bytes(root)


def failed_xml(key: str, message: str) -> bytes:
    """FAILED with messageKey and message, the shape of every BBB/Scalelite error."""
    root = _doc("FAILED")
    _add(root, "messageKey", key)
    _add(root, "message", message)
    return _bytes(root)


def version_xml(bbb_version: str | None = None) -> bytes:
    """The API root answer: BBB adds apiVersion and bbbVersion; Scalelite only says version 2.0."""
    root = _doc()
    _add(root, "version", "2.0")
    if bbb_version:
        _add(root, "apiVersion", "2.0")
        _add(root, "bbbVersion", bbb_version)
    return _bytes(root)


def fields_xml(returncode: str = "SUCCESS", **fields) -> bytes:
    """A flat answer (create, end, isMeetingRunning): returncode then the fields in order."""
    root = _doc(returncode)
    for tag, value in fields.items():
        _add(root, tag, value)
    return _bytes(root)


def create_xml(meeting: SimMeeting, duplicate: bool = False) -> bytes:
    extra = {
        "messageKey": "duplicateWarning",
        "message": "This conference was already in existence and may currently be in progress.",
    }
    return fields_xml(
        meetingID=meeting.meeting_id,
        internalMeetingID=meeting.internal_id,
        parentMeetingID="bbb-none",
        attendeePW="ap",
        moderatorPW="mp",
        createTime=meeting.create_time_ms,
        voiceBridge=meeting.voice_bridge,
        dialNumber="613-555-1234",
        createDate=java_date(meeting.create_time),
        hasUserJoined=meeting.participants > 0,
        duration=0,
        hasBeenForciblyEnded=False,
        **(extra if duplicate else {"messageKey": "", "message": ""}),
    )


def pending_recordings_xml(server: str, count: int) -> bytes:
    """A BBB server's getRecordings when `count` of its recordings still wait to be moved to Scalelite
    (state `processing`): what a drain waits for."""
    return recordings_xml(
        {"recordID": f"{server}-rec-{n}", "meetingID": f"{server}-room-{n}", "state": "processing"}
        for n in range(count)
    )


def recordings_xml(recordings: Iterable[dict]) -> bytes:
    """getRecordings: each dict has recordID, meetingID, name, state, startTime, endTime, participants.
    With none: SUCCESS, empty `<recordings/>`, messageKey noRecordings."""
    recordings = list(recordings)
    root = _doc()
    listing = etree.SubElement(root, "recordings")
    for rec in recordings:
        node = etree.SubElement(listing, "recording")
        for tag in ("recordID", "meetingID", "internalMeetingID", "name"):
            _add(node, tag, rec.get(tag, rec.get("meetingID")))
        _add(node, "isBreakout", False)
        _add(node, "published", rec.get("state") == "published")
        for tag in ("state", "startTime", "endTime", "participants"):
            _add(node, tag, rec.get(tag, 0))
        _add(node, "rawSize", rec.get("rawSize", 0))
        etree.SubElement(node, "metadata")
        _add(node, "size", rec.get("size", 0))
        etree.SubElement(node, "playback")
        etree.SubElement(node, "data")
    if not recordings:
        _add(root, "messageKey", "noRecordings")
        _add(root, "message", "There are no recordings for the meeting(s).")
    return _bytes(root)
