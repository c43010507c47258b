"""Streaming readers of BBB/Scalelite XML answers: getMeetings, getRecordings, the API index.

A Scalelite getMeetings for a big fleet is tens of megabytes, mostly `<attendee>` elements we never use
(counts come from participantCount etc., docs/scalelite-and-bbb.md). So the body is parsed as it arrives
(`xml_stream.records`), each `<meeting>` turned into a `Meeting` and then dropped, and every other
complete element dropped too: memory stays bounded whatever the size or shape of the answer.

The answer is untrusted: a DOCTYPE or entity declaration (billion laughs, external entities) is refused
outright, entities are never resolved and nothing is fetched; reading stops as soon as more than
`max_bytes` came in (a file declaring more is refused before reading); malformed or truncated XML and
garbage in a count are one `ResponseError`. Absurd or contradictory answers are refused too, each with one
line naming the bound: two `<returncode>`s, a count over `MAX_ROOM_COUNT`, more than `max_meetings` rooms,
more than `MAX_TOTAL_PARTICIPANTS` in all.
The meetings kept are bounded by `max_meetings`, so memory never grows with the answer: a 250 MB answer of
millions of tiny rooms is refused after `max_meetings` of them, in a second, not read into a list.
Nothing here depends on element order (BBB and Scalelite order `messageKey` and `meetings` differently).
"""

from __future__ import annotations

import re

from lxml import etree

from chalicelib.adapters.scalelite.xml_stream import ByteBudget, records, size_text
from chalicelib.domain.load import LoadSnapshot, Meeting
from chalicelib.ports import ApiError, ResponseError

__all__ = [
    "ByteBudget",
    "parse_failure",
    "parse_index",
    "parse_meetings",
    "parse_recordings_pending",
    "size_text",
]

# getMeetings count elements -> Meeting field (docs/scalelite-and-bbb.md).
_COUNTS = {
    "participantCount": "participants",
    "moderatorCount": "moderators",
    "voiceParticipantCount": "voice",
    "listenerCount": "listen_only",
    "videoCount": "video",
}
_MEETING_FIELDS = (*_COUNTS, "meetingID", "internalMeetingID", "isBreakout", "createTime")
#: The most a count of one room may say (participants, webcams...). BBB's own default maxParticipants is
#: unlimited, but no server holds more than a few thousand users; 100,000 is far beyond any real room and
#: keeps an absurd or hostile figure (10^15 participants, 400 digits) out of the load units.
MAX_ROOM_COUNT = 100_000
# createTime in epoch ms: past 9999-12-31 it is no date at all (10^15 once ended a guard: year 33658)
MAX_CREATE_TIME_MS = 253_402_300_799_999
#: The most rooms one getMeetings answer may hold: a region's peak is ~1,000-2,000 rooms; 50,000 is 25x that.
MAX_MEETINGS = 50_000
#: The most participants all rooms of one answer may add up to: 100,000 is a region's peak (REFERENCE:
#: ~200 users a server); 2,000,000 is 20x that. The per-room bound alone admitted 2,000 rooms x 100,000.
MAX_TOTAL_PARTICIPANTS = 2_000_000
# A count with thousands grouped by commas, as BBB's API templates wrote counts over 999 (1,202): only
# whole groups of three after the first, so '1,2' or ',123' stay refused.
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")


#: Every state of a recording still on its BBB server: processed and published ones too, until Scalelite's
#: post-publish transfer has copied them to the spool and (delete_recording: true, the image's setting)
#: deleted them here. Only `deleted` is gone.
_PENDING_RECORDING_STATES = frozenset({"processing", "processed", "published", "unpublished"})


def _check_success(top: dict[str, str], what: str) -> None:
    code = top.get("returncode")
    if code == "SUCCESS":
        return
    if code == "FAILED":
        raise ApiError(top.get("messageKey") or "unknown", top.get("message", ""))
    if code is None:
        raise ResponseError(f"{what} has no <returncode>")
    raise ResponseError(f"{what} has an unknown returncode {code[:40]!r}")


def _count(text: str | None, field: str, meeting_id: str, bound: int | None = MAX_ROOM_COUNT) -> int:
    text = (text or "").strip()
    if _GROUPED.fullmatch(text):  # BBB 2.7/3.0 before bigbluebutton#22145 wrote 1,202 for 1202 (#22102)
        text = text.replace(",", "")
    if not (text.isdigit() and text.isascii()):
        raise ResponseError(
            f"getMeetings: meeting {meeting_id[:80]!r} has a non-integer {field} {text[:40]!r}"
        )
    if len(text) > 20 or (bound is not None and int(text) > bound):  # never int() of 400 digits
        limit = f"{bound:,}" if bound is not None else "20 digits"
        raise ResponseError(
            f"getMeetings: meeting {meeting_id[:80]!r} has {field} {text[:20]}{'...' if len(text) > 20 else ''}"
            f", over the sanity bound of {limit}: refused"
        )
    return int(text)


def _meeting(element: etree._Element, server: str | None) -> Meeting:
    # iterchildren filters by tag in C: only the ~8 children we read become Python objects.
    fields: dict[str, str | None] = {}
    for child in element.iterchildren(*_MEETING_FIELDS):
        if child.tag in fields:  # two participantCounts contradict each other: neither can be believed
            raise ResponseError(
                f"getMeetings response: a <meeting> has more than one <{child.tag}>: contradictory, refused"
            )
        fields[child.tag] = child.text
    meeting_id = (fields.get("meetingID") or fields.get("internalMeetingID") or "").strip()
    if not meeting_id:
        raise ResponseError("getMeetings: a <meeting> has no meetingID")
    counts = {attr: _count(fields[tag], tag, meeting_id) for tag, attr in _COUNTS.items() if tag in fields}
    create_time = (
        _count(fields["createTime"], "createTime", meeting_id, bound=MAX_CREATE_TIME_MS)
        if "createTime" in fields
        else 0
    )
    is_breakout = (fields.get("isBreakout") or "").strip().lower() == "true"
    return Meeting(
        meeting_id=meeting_id, is_breakout=is_breakout, create_time_ms=create_time, server=server, **counts
    )


def parse_meetings(
    source, max_bytes: int, server: str | None = None, max_meetings: int = MAX_MEETINGS
) -> LoadSnapshot:
    """Read a getMeetings answer (bytes or a binary file-like, e.g. a requests raw stream) into a
    snapshot of meetings. SUCCESS with no meetings (`noMeetings`, `<meetings/>`, or no element) is an
    empty snapshot; FAILED is ApiError(messageKey, message); anything untrustworthy is ResponseError,
    including more than `max_meetings` rooms (refused as they come, so memory stays bounded).
    Each Meeting's `server` is set to `server` (the server polled directly, if any)."""
    found: list[Meeting] = []
    total = 0

    def on_meeting(element) -> None:
        nonlocal total
        if len(found) >= max_meetings:
            raise ResponseError(
                f"getMeetings response has more than {max_meetings:,} meetings, over the sanity bound: refused"
            )
        meeting = _meeting(element, server)
        total += meeting.participants
        if total > MAX_TOTAL_PARTICIPANTS:
            raise ResponseError(
                f"getMeetings response has more than {MAX_TOTAL_PARTICIPANTS:,} participants in all, "
                "over the sanity bound: refused"
            )
        found.append(meeting)

    top = records(
        source,
        max_bytes,
        "meeting",
        "meetings",
        "getMeetings response",
        on_meeting,
        fields=frozenset(_MEETING_FIELDS),
    )
    _check_success(top, "getMeetings response")
    return LoadSnapshot(meetings=tuple(found))


def parse_recordings_pending(source, max_bytes: int) -> int:
    """Count the recordings of a getRecordings answer not yet transferred to Scalelite (any state but
    deleted: the transfer deletes its local copy). Filtered here too, since older BBBs ignore `state`."""
    states: list[str] = []

    def on_recording(element: etree._Element) -> None:
        states.append((element.findtext("state") or "").strip())

    top = records(
        source,
        max_bytes,
        "recording",
        "recordings",
        "getRecordings response",
        on_recording,
        fields=frozenset({"state"}),
    )
    _check_success(top, "getRecordings response")
    return sum(1 for state in states if state in _PENDING_RECORDING_STATES)


def parse_index(source, max_bytes: int) -> dict[str, str]:
    """Read the API index (`GET /bigbluebutton/api`, no checksum): returncode must be SUCCESS; returns
    the leaf fields, e.g. version, apiVersion, bbbVersion (BBB 2.5+)."""
    top = records(source, max_bytes, "meeting", "meetings", "API index response", lambda element: None)
    _check_success(top, "API index response")
    return top


def parse_failure(source, max_bytes: int, what: str) -> ApiError | None:
    """The ApiError an XML answer carries (Scalelite's admin API answers checksum errors as XML FAILED
    with HTTP 200), or None when it says SUCCESS."""
    top = records(source, max_bytes, "meeting", "meetings", what, lambda element: None)
    try:
        _check_success(top, what)
    except ApiError as error:
        return error
    return None
