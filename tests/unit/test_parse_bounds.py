"""Absurd, contradictory or oversized getMeetings answers are refused with one line naming the bound
(issue 14)."""

from __future__ import annotations

import time

import pytest

from chalicelib.adapters.scalelite.parse import MAX_ROOM_COUNT, parse_meetings, size_text
from chalicelib.ports import ApiError, ResponseError

LIMIT = 1 << 20


def answer(meetings: str = "", top: str = "<returncode>SUCCESS</returncode>") -> bytes:
    return f"<response>{top}<meetings>{meetings}</meetings></response>".encode()


def room(participants: str = "3", **counts: str) -> str:
    fields = "".join(f"<{k}>{v}</{k}>" for k, v in counts.items())
    return f"<meeting><meetingID>m1</meetingID><participantCount>{participants}</participantCount>{fields}</meeting>"


@pytest.mark.parametrize(
    "top",
    [
        "<returncode>FAILED</returncode><returncode>SUCCESS</returncode>",
        "<returncode>SUCCESS</returncode><returncode>FAILED</returncode>",
        "<returncode>SUCCESS</returncode><returncode>SUCCESS</returncode>",
    ],
)
def test_two_returncodes_are_refused_whatever_they_say(top):
    with pytest.raises(ResponseError, match="more than one <returncode>: contradictory"):
        parse_meetings(answer(room(), top=top), LIMIT)


def test_a_400_digit_count_is_refused_without_overflow():
    with pytest.raises(ResponseError, match="over the sanity bound of 100,000") as caught:
        parse_meetings(answer(room("9" * 400)), LIMIT)
    assert "9" * 21 not in str(caught.value), "the figure is cut in the message"


@pytest.mark.parametrize("field", ["participantCount", "videoCount", "voiceParticipantCount"])
def test_counts_past_the_sanity_bound_are_refused(field):
    counts = {"participantCount": "3", field: str(10**15)}
    body = answer(room(participants=counts.pop("participantCount"), **counts))
    with pytest.raises(ResponseError, match=f"{field} 1000000000000000, over the sanity bound"):
        parse_meetings(body, LIMIT)
    assert parse_meetings(answer(room(str(MAX_ROOM_COUNT))), LIMIT).totals.participants == MAX_ROOM_COUNT


def test_a_failed_answer_is_still_an_api_error():
    body = answer(top="<returncode>FAILED</returncode><messageKey>internalError</messageKey>")
    with pytest.raises(ApiError, match="internalError"):
        parse_meetings(body, LIMIT)


def test_more_rooms_than_the_bound_are_refused_as_they_come():
    rooms = "".join(f"<meeting><meetingID>r{i}</meetingID></meeting>" for i in range(101))
    with pytest.raises(ResponseError, match="more than 100 meetings, over the sanity bound"):
        parse_meetings(answer(rooms), LIMIT, max_meetings=100)
    assert parse_meetings(answer(rooms), LIMIT, max_meetings=101).totals.meetings == 101


def test_a_file_larger_than_the_limit_is_refused_before_reading(tmp_path):
    huge = tmp_path / "huge.xml"
    with open(huge, "wb") as sparse:
        sparse.truncate(10 << 30)  # 10 GiB, sparse: reading it would take minutes
    started = time.monotonic()
    with open(huge, "rb") as stream, pytest.raises(ResponseError, match="larger than the 256 MiB limit"):
        parse_meetings(stream, 256 << 20)
    assert time.monotonic() - started < 1


def test_limits_read_as_people_write_them():
    assert [size_text(n) for n in (256 << 20, 64 << 10, 1 << 30, 1000)] == [
        "256 MiB",
        "64 KiB",
        "1 GiB",
        "1000-byte",
    ]


def test_the_participants_of_all_rooms_together_are_bounded():
    """Issue 23, item 8: the per-room bound alone admitted 2,000 rooms x 100,000 participants."""
    from chalicelib.adapters.scalelite.parse import MAX_TOTAL_PARTICIPANTS

    per_room = MAX_ROOM_COUNT
    rooms = MAX_TOTAL_PARTICIPANTS // per_room
    assert len(parse_meetings(answer(room(str(per_room)) * rooms), LIMIT).meetings) == rooms
    with pytest.raises(ResponseError) as caught:
        parse_meetings(answer(room(str(per_room)) * (rooms + 1)), LIMIT)
    assert str(caught.value) == (
        "getMeetings response has more than 2,000,000 participants in all, over the sanity bound: refused"
    )


@pytest.mark.parametrize(
    "body, words",
    [
        (b"<x>" + b"<y/>" * 1000 + b"</x>", "not a BBB API answer (root element <x>)"),
        (
            b'<?xml version="1.0"?>\n<!-- a comment -->\n<other/>',
            "not a BBB API answer (root element <other>)",
        ),
        (b"<!DOCTYPE response [<!ENTITY a 'b'>]><response/>", "DOCTYPE/entity declaration"),
        (b"<response>" + b"<a>" * 300 + b"</a>" * 300 + b"</response>", "malformed XML"),
    ],
)
def test_another_root_a_doctype_or_deep_nesting_is_refused_in_one_line(body, words):
    with pytest.raises(ResponseError) as caught:
        parse_meetings(body, LIMIT)
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("copies", [2, 200_000])
def test_a_meeting_field_given_twice_is_refused(copies):
    """A record's fields are kept until it ends: a million copies of one would all be kept, so a
    repeated field is refused (it contradicts itself anyway), whichever chunk its copies fall in."""
    body = answer(
        "<meeting><meetingID>m1</meetingID>"
        + "<participantCount>3</participantCount>" * copies
        + "</meeting>"
    )
    with pytest.raises(ResponseError) as caught:
        parse_meetings(body, 64 << 20)
    assert "more than one <participantCount>: contradictory, refused" in str(caught.value)


@pytest.mark.parametrize(
    "prefix", [b"\xef\xbb\xbf", "<?xml version='1.0' encoding='UTF-16'?>".encode("utf-16")]
)
def test_filler_under_a_root_that_is_not_seen_at_once_is_cut_after_one_mib(prefix):
    """Memory: without the <response> start nothing can be pruned, so the parse stops after 1 MiB."""
    body = prefix + b"<x>" + b"<y/>" * (1 << 20) + b"</x>"
    with pytest.raises(ResponseError):
        parse_meetings(body, 64 << 20)


def test_a_bom_before_a_real_answer_is_read():
    assert len(parse_meetings(b"\xef\xbb\xbf" + answer(room()), LIMIT).meetings) == 1


def test_a_create_time_past_year_9999_is_refused_with_its_bound():
    # Issue 19: a room with createTime 10^15 (year 33658) once ended the burst guard.
    with pytest.raises(ResponseError, match="createTime 1000000000000000, over the sanity bound"):
        parse_meetings(answer(room(createTime=str(10**15))), LIMIT)
    (meeting,) = parse_meetings(answer(room(createTime="1700000000000")), LIMIT).meetings
    assert meeting.create_time_ms == 1_700_000_000_000
