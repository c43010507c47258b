"""Streaming readers of BBB/Scalelite XML answers: getMeetings, getRecordings, the API index.

A Scalelite getMeetings for a big fleet is tens of megabytes, mostly `<attendee>` elements we never use
(counts come from participantCount etc., docs/scalelite-and-bbb.md). So the body is parsed as it arrives with
lxml's iterparse, each `<meeting>` turned into a `Meeting` and then cleared: memory stays at one room's
subtree whatever the size of the answer.

The answer is untrusted: a DOCTYPE or entity declaration (billion laughs, external entities) is refused
outright, entities are never resolved and nothing is fetched; reading stops as soon as more than
`max_bytes` came in (a file declaring more is refused before reading); malformed or truncated XML and
garbage in a count are one `ResponseError`. Absurd or contradictory answers are refused too, each with one
line naming the bound: two `<returncode>`s, a count over `MAX_ROOM_COUNT`, more than `max_meetings` rooms.
The meetings kept are bounded by `max_meetings`, so memory never grows with the answer: a 250 MB answer of
millions of tiny rooms is refused after `max_meetings` of them, in a second, not read into a list.
Nothing here depends on element order (BBB and Scalelite order `messageKey` and `meetings` differently).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable

from lxml import etree

from chalicelib.domain.load import LoadSnapshot, Meeting
from chalicelib.ports import ApiError, ResponseError

# getMeetings count elements -> Meeting field (docs/scalelite-and-bbb.md).
_COUNTS = {
    "participantCount": "participants",
    "moderatorCount": "moderators",
    "voiceParticipantCount": "voice",
    "listenerCount": "listen_only",
    "videoCount": "video",
}
_MEETING_FIELDS = (*_COUNTS, "meetingID", "internalMeetingID", "isBreakout", "createTime")
_CHUNK = 64 * 1024
#: The most a count of one room may say (participants, webcams...). BBB's own default maxParticipants is
#: unlimited, but no server holds more than a few thousand users; 100,000 is far beyond any real room and
#: keeps an absurd or hostile figure (10^15 participants, 400 digits) out of the load units.
MAX_ROOM_COUNT = 100_000
# createTime in epoch ms: past 9999-12-31 it is no date at all (10^15 once ended a guard: year 33658)
MAX_CREATE_TIME_MS = 253_402_300_799_999
#: The most rooms one getMeetings answer may hold: a region's peak is ~1,000-2,000 rooms; 50,000 is 25x that.
MAX_MEETINGS = 50_000


def size_text(limit: int) -> str:
    """A byte limit as people write it: "256 MiB", "64 KiB", "1000-byte"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit}-byte"


_SINGLE = frozenset({"returncode", "messageKey"})
_PENDING_RECORDING_STATES = frozenset({"processing", "processed"})


class ByteBudget(io.RawIOBase):
    """A binary reader that counts the bytes it hands on and fails once more than `max_bytes` came in,
    so an oversized (or endless, or decompression-bomb) body is cut off without being read to the end."""

    def __init__(self, source, max_bytes: int, what: str = "response"):
        super().__init__()
        self._source = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
        self._max = max_bytes
        self._what = what
        self.consumed = 0
        declared = _file_size(self._source)
        if declared is not None and declared > max_bytes:  # a file says its size: no need to read it
            raise ResponseError(f"{what} is larger than the {size_text(max_bytes)} limit ({declared} bytes)")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:  # read all, in chunks: one huge read() would allocate the limit up front
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        # Never ask for more than one byte past the budget: that one byte is the proof of "too big".
        size = min(size, self._max - self.consumed + 1)
        chunk = self._pull(size) or b""
        self.consumed += len(chunk)
        if self.consumed > self._max:
            raise ResponseError(f"{self._what} is larger than the {size_text(self._max)} limit")
        return chunk

    def _pull(self, size: int) -> bytes:
        return self._source.read(size)

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _file_size(source) -> int | None:
    """The size of a regular file behind `source`, if it is one."""
    try:
        info = os.fstat(source.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _records(
    source,
    max_bytes: int,
    record: str,
    container: str,
    what: str,
    on_record: Callable[[etree._Element], None],
) -> dict[str, str]:
    """Stream `source`, calling `on_record` on every /response/<container>/<record> element (then
    cleared), and return the text of /response's leaf children (returncode, messageKey, version...)."""
    reader = ByteBudget(source, max_bytes, what)
    events = etree.iterparse(
        reader,
        events=("start", "end"),
        tag=("response", record),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    root = None
    try:
        for event, element in events:
            if root is None:
                root = element.getroottree().getroot()
                _refuse_doctype(root, what)
            if event == "start" or element is root:
                continue
            parent = element.getparent()
            if parent is None or parent.tag != container or parent.getparent() is not root:
                continue  # e.g. <metadata><meeting> from a meta_meeting create parameter
            on_record(element)
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del parent[0]
        root = events.root
    except etree.XMLSyntaxError as error:
        raise ResponseError(f"malformed XML in {what}: {_syntax_reason(error)}") from None
    except etree.LxmlError as error:
        raise ResponseError(f"unreadable XML in {what}: {type(error).__name__}") from None
    _refuse_doctype(root, what)
    if root.tag != "response":
        raise ResponseError(f"{what} is not a BBB API answer (root element <{root.tag}>)")
    top: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str) and len(child) == 0:
            if child.tag in top and child.tag in _SINGLE:
                # Two returncodes (FAILED then SUCCESS) contradict each other: neither can be believed.
                raise ResponseError(f"{what} has more than one <{child.tag}>: contradictory, refused")
            top[child.tag] = (child.text or "").strip()
    return top


def _refuse_doctype(root, what: str) -> None:
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise ResponseError(f"{what} carries a DOCTYPE/entity declaration; refused (hostile XML)")


def _syntax_reason(error: etree.XMLSyntaxError) -> str:
    # lxml's message names the line/column and the fault; it never holds our URL, secret or checksum.
    return str(error.msg or error).splitlines()[0][:200]


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
    fields = {child.tag: child.text for child in element.iterchildren(*_MEETING_FIELDS)}
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

    def on_meeting(element) -> None:
        if len(found) >= max_meetings:
            raise ResponseError(
                f"getMeetings response has more than {max_meetings:,} meetings, over the sanity bound: refused"
            )
        found.append(_meeting(element, server))

    top = _records(source, max_bytes, "meeting", "meetings", "getMeetings response", on_meeting)
    _check_success(top, "getMeetings response")
    return LoadSnapshot(meetings=tuple(found))


def parse_recordings_pending(source, max_bytes: int) -> int:
    """Count the recordings of a getRecordings answer still being processed (state processing or
    processed, i.e. not yet published). Filtered here too, since older BBBs ignore the `state` param."""
    states: list[str] = []

    def on_recording(element: etree._Element) -> None:
        states.append((element.findtext("state") or "").strip())

    top = _records(source, max_bytes, "recording", "recordings", "getRecordings response", on_recording)
    _check_success(top, "getRecordings response")
    return sum(1 for state in states if state in _PENDING_RECORDING_STATES)


def parse_index(source, max_bytes: int) -> dict[str, str]:
    """Read the API index (`GET /bigbluebutton/api`, no checksum): returncode must be SUCCESS; returns
    the leaf fields, e.g. version, apiVersion, bbbVersion (BBB 2.5+)."""
    top = _records(source, max_bytes, "meeting", "meetings", "API index response", lambda element: None)
    _check_success(top, "API index response")
    return top


def parse_failure(source, max_bytes: int, what: str) -> ApiError | None:
    """The ApiError an XML answer carries (Scalelite's admin API answers checksum errors as XML FAILED
    with HTTP 200), or None when it says SUCCESS."""
    top = _records(source, max_bytes, "meeting", "meetings", what, lambda element: None)
    try:
        _check_success(top, what)
    except ApiError as error:
        return error
    return None
