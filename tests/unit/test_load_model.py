from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.config import LoadWeights
from chalicelib.domain.load import (
    LoadSnapshot,
    Meeting,
    load_report,
    meeting_units,
    units_per_user,
)
from tests.support.builders import T0

W = LoadWeights()
OLD = int((T0.timestamp() - 3600) * 1000)


def test_all_webcam_room_costs_three_times_a_typical_class():
    # 20 users all on webcam = 20 published + 380 delivered streams (docs/scalelite-and-bbb.md).
    heavy = Meeting("h", participants=20, voice=20, video=20, create_time_ms=OLD)
    typical = Meeting("t", participants=25, voice=5, listen_only=20, video=1, create_time_ms=OLD)
    assert meeting_units(heavy, W, T0) == pytest.approx(5 + 20 + 10 + 20 + 38)
    assert meeting_units(typical, W, T0) == pytest.approx(5 + 25 + 2.5 + 2 + 1 + 2.4)
    assert meeting_units(heavy, W, T0) > 2 * meeting_units(typical, W, T0)


def test_young_room_counts_as_at_least_fifteen_users_like_scalelite():
    young = Meeting("y", participants=2, create_time_ms=int((T0 - timedelta(minutes=5)).timestamp() * 1000))
    old = Meeting("o", participants=2, create_time_ms=OLD)
    assert meeting_units(young, W, T0) == pytest.approx(5 + 15)
    assert meeting_units(old, W, T0) == pytest.approx(5 + 2)


def test_breakout_rooms_are_costed_like_any_room():
    a = Meeting("a", participants=4, create_time_ms=OLD)
    b = Meeting("b", participants=4, create_time_ms=OLD, is_breakout=True)
    assert meeting_units(a, W, T0) == meeting_units(b, W, T0)


def test_report_sums_every_meeting():
    snap = LoadSnapshot(
        (Meeting("a", 10, 1, 3, 7, 2, create_time_ms=OLD), Meeting("b", 5, 1, 1, 4, 0, True, OLD))
    )
    r = load_report(snap, W, T0)
    assert (r["meetings"], r["breakout_rooms"], r["participants"], r["moderators"]) == (2, 1, 15, 2)
    assert (r["voice"], r["listen_only"], r["video_streams"]) == (4, 11, 2)


def test_seed_peak_fits_about_a_hundred_servers():
    # 15,000 users, 1,000 rooms, 550 webcams, 5,500 mics: the seed ran 75-150 servers for it.
    per_user = units_per_user(W, 550 / 15000, 5500 / 15000, 15)
    assert 70 <= 15000 * per_user / 300 <= 110


@given(st.integers(0, 200), st.integers(0, 200), st.integers(0, 50), st.integers(0, 50))
def test_units_grow_with_every_kind_of_use(participants, voice, video, extra):
    base = Meeting("m", participants=participants, voice=voice, video=video, create_time_ms=OLD)
    more = Meeting(
        "m", participants=participants + extra, voice=voice + extra, video=video + extra, create_time_ms=OLD
    )
    assert meeting_units(more, W, T0) >= meeting_units(base, W, T0) >= W.room


def test_a_young_room_known_by_its_past_sessions_counts_at_their_size_not_at_scalelites_allowance():
    from chalicelib.domain.load import room_costs, sized_from_memory

    now = T0.timestamp()
    young = int((T0 - timedelta(minutes=5)).timestamp() * 1000)
    pair = Meeting("pair", participants=2, voice=1, create_time_ms=young)  # a tutoring pair: 5 + 2 + 0.5
    lecture = Meeting("lecture", participants=3, create_time_ms=young)  # 60 pupils join it every week
    filling = Meeting("filling", participants=20, create_time_ms=young)  # past its memory already
    stranger = Meeting("new", participants=2, create_time_ms=young)  # never seen: Scalelite's allowance
    settled = Meeting("settled", participants=2, create_time_ms=OLD)  # past `young_room_minutes`
    rooms = [pair, lecture, filling, stranger, settled]
    known = {"pair": 7.5, "lecture": 65.0, "filling": 12.0, "settled": 90.0}
    costs = room_costs(rooms, W, now)
    assert costs == pytest.approx([5 + 15 + 0.5, 5 + 15, 5 + 20, 5 + 15, 5 + 2])
    sized, count = sized_from_memory(rooms, costs, known, W, now)
    assert count == 3
    assert sized == pytest.approx([7.5, 65.0, 5 + 20, 5 + 15, 5 + 2])
    assert sized_from_memory(rooms, costs, {}, W, now) == (costs, 0)
