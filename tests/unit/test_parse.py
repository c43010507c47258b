"""The streaming getMeetings / getRecordings readers, on real-shaped fixtures, generated answers, and
hostile input."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.scalelite.parse import (
    parse_failure,
    parse_index,
    parse_meetings,
    parse_recordings_pending,
)
from chalicelib.domain.load import LoadTotals, Meeting
from chalicelib.ports import ApiError, ResponseError
from tests.support.bbb_xml import Style, render_get_meetings, render_recordings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bbb"
LIMIT = 1 << 20


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_docs_example_gives_one_of_each():
    totals = parse_meetings(fixture("get_meetings_docs_example.xml"), LIMIT).totals
    assert totals == LoadTotals(
        meetings=1, breakout_rooms=0, participants=1, moderators=1, voice=1, listen_only=0, video_streams=1
    )


def test_counts_over_999_with_thousands_commas_are_read_as_bbb_meant_them():
    # bigbluebutton/bigbluebutton#22102: BBB 2.7/3.0 (before #22145, January 2025) wrote
    # <participantCount>1,202</participantCount> for a room of more than 1,000; one such room made
    # every tick's load unreadable. The docs example with its counts written that way:
    text = fixture("get_meetings_docs_example.xml").decode()
    for tag, grouped in (
        ("participantCount", "1,202"),
        ("listenerCount", "1,150"),
        ("moderatorCount", "1,001"),
    ):
        plain = f"<{tag}>{'1' if tag != 'listenerCount' else '0'}</{tag}>"
        assert plain in text, plain
        text = text.replace(plain, f"<{tag}>{grouped}</{tag}>")
    totals = parse_meetings(text.encode(), LIMIT).totals
    assert (totals.participants, totals.listen_only, totals.moderators) == (1202, 1150, 1001)


@pytest.mark.parametrize("count", ["1,2", ",123", "1,2345", "12,34,567", "1.202", "1 202", "1,,202"])
def test_anything_but_whole_thousands_groups_is_still_refused(count):
    text = fixture("get_meetings_docs_example.xml").decode()
    text = text.replace(
        "<participantCount>1</participantCount>", f"<participantCount>{count}</participantCount>"
    )
    with pytest.raises(ResponseError, match="non-integer participantCount"):
        parse_meetings(text.encode(), LIMIT)


def test_docs_example_from_a_binary_stream_sets_the_server():
    snapshot = parse_meetings(io.BytesIO(fixture("get_meetings_docs_example.xml")), LIMIT, server="bbb7")
    (meeting,) = snapshot.meetings
    assert (meeting.meeting_id, meeting.server, meeting.create_time_ms) == (
        "Demo Meeting",
        "bbb7",
        1531241258036,
    )
    assert snapshot.complete and snapshot.problems == ()


def test_pretty_cdata_breakouts_metadata_and_unknown_elements():
    snapshot = parse_meetings(fixture("breakouts_pretty_cdata.xml"), LIMIT)
    first, breakout = snapshot.meetings
    assert first == Meeting(
        "maths-4e&b",
        participants=25,
        moderators=1,
        voice=6,
        listen_only=18,
        video=1,
        is_breakout=False,
        create_time_ms=1795000000000,
    )
    assert breakout.meeting_id == "maths-4e&b (Room 1)" and breakout.is_breakout
    assert snapshot.totals.breakout_rooms == 1 and snapshot.totals.participants == 29  # not the metadata 999


@pytest.mark.parametrize("name", ["no_meetings_scalelite.xml", "no_meetings_bbb.xml"])
def test_no_meetings_in_either_order_is_an_empty_load(name):
    snapshot = parse_meetings(fixture(name), LIMIT)
    assert snapshot.meetings == () and snapshot.complete


def test_success_without_a_meetings_element_is_empty():
    assert parse_meetings(b"<response><returncode>SUCCESS</returncode></response>", LIMIT).meetings == ()


@pytest.mark.parametrize(
    "name,key", [("failed_checksum.xml", "checksumError"), ("failed_internal_error.xml", "internalError")]
)
def test_failed_is_an_api_error_with_its_message_key(name, key):
    with pytest.raises(ApiError) as caught:
        parse_meetings(fixture(name), LIMIT)
    assert caught.value.key == key and caught.value.message


@pytest.mark.parametrize("name", ["hostile_billion_laughs.xml", "hostile_external_entity.xml"])
def test_entity_declarations_are_refused(name):
    with pytest.raises(ResponseError, match="DOCTYPE"):
        parse_meetings(fixture(name), LIMIT)


def test_a_bare_doctype_is_refused_too():
    with pytest.raises(ResponseError, match="DOCTYPE"):
        parse_meetings(
            b'<!DOCTYPE response SYSTEM "http://127.0.0.1:9/x.dtd"><response>'
            b"<returncode>SUCCESS</returncode></response>",
            LIMIT,
        )


def test_an_undeclared_entity_is_malformed():
    with pytest.raises(ResponseError):
        parse_meetings(
            b"<response><returncode>SUCCESS</returncode><meetings><meeting><meetingID>&x;"
            b"</meetingID></meeting></meetings></response>",
            LIMIT,
        )


class CountingStream(io.RawIOBase):
    """A body that never ends; records how much was asked of it."""

    def __init__(self, head: bytes):
        self.head, self.given = head, 0

    def readable(self):
        return True

    def read(self, size=-1):
        size = 65536 if size is None or size < 0 else size
        chunk = (
            self.head[self.given : self.given + size]
            if self.given < len(self.head)
            else b"<meeting><meetingID>x</meetingID></meeting>" * (size // 44 + 1)
        )[:size]
        self.given += len(chunk)
        return chunk


def test_reading_stops_soon_after_the_size_limit():
    stream = CountingStream(b"<response><returncode>SUCCESS</returncode><meetings>")
    with pytest.raises(ResponseError, match="limit"):
        parse_meetings(stream, 200_000)
    assert 200_000 < stream.given <= 200_000 + 65536


def test_a_document_exactly_at_the_limit_passes():
    body = fixture("get_meetings_docs_example.xml")
    assert parse_meetings(body, len(body)).totals.meetings == 1
    with pytest.raises(ResponseError, match="limit"):
        parse_meetings(body, len(body) - 1)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<response><returncode>SUCCESS</returncode><meetings><meeting>",
        b"<response><returncode>SUCCESS</returncode></respons>",
        b"not xml at all",
        b"\xff\xfe\x00<",
    ],
)
def test_malformed_or_truncated_xml_is_a_response_error(body):
    with pytest.raises(ResponseError):
        parse_meetings(body, LIMIT)


@pytest.mark.parametrize(
    "body,match",
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not a BBB API answer \\(an HTML page\\)"),
        # a proxy's page sent with 200: an HTML page, not "hostile XML" (its DOCTYPE is no entity)
        (b"<!DOCTYPE html>\n<html lang='fr'><body>Maintenance</body></html>", "an HTML page"),
        (b"<?xml version='1.0'?><feed xmlns='x'/>", "root element <feed>"),
        (b"<response><meetings/></response>", "no <returncode>"),
        (b"<response><returncode>MAYBE</returncode></response>", "unknown returncode"),
    ],
)
def test_answers_that_are_not_bbb_answers(body, match):
    with pytest.raises(ResponseError, match=match):
        parse_meetings(body, LIMIT)


class _Pieces(io.RawIOBase):
    """A body arriving in the pieces a network gives, each read ending where its piece ends."""

    def __init__(self, pieces: list[bytes]):
        self.pieces = list(pieces)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pieces:
            return 0
        piece = self.pieces.pop(0)
        buffer[: len(piece)] = piece
        return len(piece)


@pytest.mark.parametrize("cut", [len(b'<?xml version="1.0" encoding="UTF-8"?>\n<resp'), 4, 1])
def test_a_root_name_cut_between_two_reads_is_read_whole(cut):
    # Chunked transfer or a TCP segment can end inside "<response": the first read alone said
    # "not a BBB API answer (root element <resp>)" for a valid answer.
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + fixture("no_meetings_bbb.xml").split(b"?>", 1)[-1].lstrip()
    )
    snapshot = parse_meetings(_Pieces([body[:cut], body[cut:]]), LIMIT)
    assert snapshot.totals.meetings == 0 and snapshot.complete
    with pytest.raises(ResponseError, match="root element <feed>"):
        parse_meetings(_Pieces([b"<fe", b"ed><x/></feed>"]), LIMIT)


@pytest.mark.parametrize(
    "field,value",
    [
        ("participantCount", "12a"),
        ("videoCount", "-1"),
        ("moderatorCount", ""),
        ("createTime", "soon"),
        ("voiceParticipantCount", "١٢"),
    ],
)
def test_garbage_in_a_count_names_the_field(field, value):
    body = (
        f"<response><returncode>SUCCESS</returncode><meetings><meeting><meetingID>m1</meetingID>"
        f"<{field}>{value}</{field}></meeting></meetings></response>"
    ).encode()
    with pytest.raises(ResponseError, match=field):
        parse_meetings(body, LIMIT)


def test_a_meeting_without_an_id_is_refused():
    with pytest.raises(ResponseError, match="meetingID"):
        parse_meetings(
            b"<response><returncode>SUCCESS</returncode><meetings><meeting><participantCount>3"
            b"</participantCount></meeting></meetings></response>",
            LIMIT,
        )


def test_recordings_pending_counts_every_recording_not_yet_transferred():
    assert parse_recordings_pending(fixture("get_recordings_mixed.xml"), LIMIT) == 3
    assert parse_recordings_pending(render_recordings([]).encode(), LIMIT) == 0
    assert (
        parse_recordings_pending(render_recordings(["processed", "unpublished", "deleted"]).encode(), LIMIT)
        == 2
    )


def test_index_gives_the_versions():
    assert parse_index(fixture("api_index.xml"), LIMIT)["bbbVersion"] == "2.7.3"


def test_parse_failure_returns_the_error_or_none():
    assert parse_failure(fixture("failed_checksum.xml"), LIMIT, "x").key == "checksumError"
    assert parse_failure(fixture("api_index.xml"), LIMIT, "x") is None


# --- round trip: whatever way a server writes the same meetings, the sums are the same ---------------
meetings_strategy = st.lists(
    st.builds(
        Meeting,
        meeting_id=st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")),
            min_size=1,
            max_size=12,
        ).filter(lambda s: s.strip() == s and s.strip()),
        participants=st.integers(0, 40),
        moderators=st.integers(0, 3),
        voice=st.integers(0, 40),
        listen_only=st.integers(0, 40),
        video=st.integers(0, 40),
        is_breakout=st.booleans(),
        create_time_ms=st.integers(0, 2_000_000_000_000),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    meetings=meetings_strategy,
    pretty=st.booleans(),
    cdata=st.booleans(),
    shuffle=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_round_trip_keeps_every_meeting_and_sum(meetings, pretty, cdata, shuffle, seed):
    style = Style(pretty=pretty, cdata=cdata, shuffle=shuffle, attendees=True)
    body = render_get_meetings(meetings, style, random.Random(seed)).encode()
    snapshot = parse_meetings(body, len(body))
    assert snapshot.meetings == tuple(meetings)
    assert snapshot.totals == LoadTotals.of(meetings)


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(0, 10_000), junk=st.binary(max_size=12), keep_tail=st.booleans())
def test_damaged_answers_fail_with_our_errors_only(cut, junk, keep_tail):
    """Any truncation or splice of a real answer is either still a valid answer or one clear error."""
    body = fixture("breakouts_pretty_cdata.xml")
    cut %= len(body)
    damaged = body[:cut] + junk + (body[cut:] if keep_tail else b"")
    try:
        snapshot = parse_meetings(damaged, LIMIT)
    except (ResponseError, ApiError):
        return
    assert snapshot.totals.meetings <= 2
