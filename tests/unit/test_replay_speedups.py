"""The replay's fast paths give exactly what the plain code gives, and nothing they remember goes stale.

`bbbscale simulate` must replay a school week in seconds with the same figures to the digit, so the
one-pass sums are held bit-identical to the per-room functions, and every remembered record is shown to
follow a change made between two reads (a resize, a join, a youth boundary, a Scalelite state change).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bbbsim.direct import DirectScalelite
from bbbsim.replay import Replay, SimClock
from bbbsim.scalelite_model import RegisteredServer, _least_loaded
from bbbsim.world import SimWorld
from chalicelib.config import LoadWeights
from chalicelib.config_file import load_settings
from chalicelib.domain.load import (
    LoadSnapshot,
    LoadTotals,
    Meeting,
    meeting_units,
    room_costs,
    snapshot_units,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
MS0 = int(T0.timestamp() * 1000)

MEETINGS = st.lists(
    st.builds(
        Meeting,
        meeting_id=st.text(min_size=1, max_size=4),
        participants=st.integers(0, 300),
        moderators=st.integers(0, 5),
        voice=st.integers(0, 300),
        listen_only=st.integers(0, 300),
        video=st.integers(0, 60),
        is_breakout=st.booleans(),
        # around the young-room boundary (15 min before T0), to the millisecond, and "no createTime"
        create_time_ms=st.one_of(st.just(0), st.integers(MS0 - 20 * 60_000, MS0 + 60_000)),
    ),
    max_size=40,
)
WEIGHTS = st.builds(
    LoadWeights,
    room=st.floats(0, 50),
    participant=st.floats(0, 3),
    voice=st.floats(0, 2),
    listen_only=st.floats(0, 1),
    webcam=st.floats(0, 3),
    delivered_webcam=st.floats(0, 1),
    young_room_minutes=st.floats(0, 30),
    young_room_participants=st.integers(0, 40),
)


@settings(max_examples=200, deadline=None)
@given(MEETINGS, WEIGHTS, st.integers(-90_000, 90_000))
def test_one_pass_costs_are_bit_identical_to_meeting_units(meetings, weights, offset_ms):
    now = T0 + timedelta(milliseconds=offset_ms)
    one_by_one = [meeting_units(m, weights, now) for m in meetings]
    assert room_costs(meetings, weights, now) == one_by_one
    assert room_costs(meetings, weights, now.timestamp()) == one_by_one
    assert snapshot_units(LoadSnapshot(tuple(meetings)), weights, now) == sum(
        one_by_one
    )  # same order, same sum


@settings(max_examples=100, deadline=None)
@given(MEETINGS)
def test_one_pass_totals_equal_the_plain_sums(meetings):
    totals = LoadTotals.of(meetings)
    assert totals == LoadTotals(
        meetings=len(meetings),
        breakout_rooms=sum(1 for m in meetings if m.is_breakout),
        participants=sum(m.participants for m in meetings),
        moderators=sum(m.moderators for m in meetings),
        voice=sum(m.voice for m in meetings),
        listen_only=sum(m.listen_only for m in meetings),
        video_streams=sum(m.video for m in meetings),
    )
    assert type(totals.breakout_rooms) is int


def _world() -> SimWorld:
    world = SimWorld(random.Random(3))
    world.add_bbb_server("s0", "secret", 300, T0 - timedelta(hours=1))
    world.add_server("sim://s0", "secret", state="enabled", online=True)
    return world


def test_domain_records_follow_every_change_between_two_reads():
    world = _world()
    world.create_meeting("room", T0, participants=2, moderators=1, server="s0")
    first = world.scalelite_load()[0]
    assert world.scalelite_load()[0] == first
    world.resize_meeting("room", voice=4, video=1)
    assert (world.scalelite_load()[0].voice, world.scalelite_load()[0].video) == (4, 1)
    world.join_meeting("room", users=3)
    assert world.scalelite_load()[0].participants == 5
    world.meetings["room"].listen_only = 7  # a direct assignment (tests, scenarios) is seen too
    assert world.scalelite_load()[0].listen_only == 7
    assert world.meetings_of("s0")[0].listen_only == 7 and world.meetings_of("s0")[0].server == "s0"
    assert world.scalelite_load()[0].server is None  # getMeetings does not say where
    weights = LoadWeights()
    later = T0 + timedelta(hours=1)
    assert snapshot_units(DirectScalelite(world).meetings(), weights, later) == meeting_units(
        Meeting("room", 5, 1, 4, 7, 1, False, int(T0.timestamp() * 1000)), weights, later
    )


def test_replay_server_units_follow_a_resize_at_real_room_size():
    """Overload is counted at real room size: a young room of 3 costs 3 users, not Scalelite's 15."""
    settings_ = load_settings()
    weights = settings_.weights
    world = _world()
    world.create_meeting("room", T0, participants=3, server="s0")

    class Runtime:
        settings = settings_

    replay = Replay([], world, Runtime(), SimClock(T0))
    at = T0 + timedelta(minutes=14)
    assert replay._server_units(at)[0]["s0"][0] == weights.room + weights.participant * 3
    assert meeting_units(Meeting("room", 3, create_time_ms=MS0), weights, at) > weights.room + 3  # tick's
    world.resize_meeting("room", participants=20, video=2)
    assert replay._server_units(at)[0]["s0"][0] == meeting_units(
        Meeting("room", 20, video=2, create_time_ms=MS0), weights, at
    )


def test_get_servers_follows_state_load_and_deletion_between_two_calls():
    world = _world()
    scalelite = DirectScalelite(world)
    second = world.add_server("sim://s1", "other")
    before = {s.id: s for s in scalelite.servers()}
    assert before[second.id].state == "disabled" and before[second.id].load is None
    world.create_meeting("room", T0 - timedelta(hours=1), participants=30, server="s0")
    world.poll(T0)
    scalelite.set_state(second.id, "enable")
    after = {s.id: s for s in scalelite.servers()}
    first = next(i for i in after if i != second.id)
    assert after[first].load == 30.0 and after[second.id].state == "enabled"
    scalelite.delete(second.id)
    assert [s.id for s in scalelite.servers()] == [first]


LOADS = st.lists(
    st.tuples(st.sampled_from([0.0, 1.0, 2.0, 15.0]), st.sampled_from(["a", "b", "c", "d", "e"])),
    min_size=0,
    max_size=8,
    unique_by=lambda t: t[1],
)


@given(LOADS)
def test_least_loaded_picks_what_min_by_load_then_id_picks(loads):
    entries = [RegisteredServer(server_id, f"sim://{server_id}", "x", load=load) for load, server_id in loads]
    expected = min(entries, key=lambda e: (e.load, e.id)) if entries else None
    assert _least_loaded(entries, {e.id: e.load for e in entries}) is expected


def test_placement_ignores_tagged_disabled_and_unpolled_servers_and_breaks_ties_by_id():
    world = SimWorld(random.Random(5))
    for name in ("a", "b", "c", "d"):
        world.add_bbb_server(name, "secret", 300, T0)
    entries = {
        name: world.add_server(f"sim://{name}", "secret", state="enabled", online=True).id
        for name in ("a", "b", "c", "d")
    }
    world.update_server(entries["a"], tag="gpu")
    world.update_server(entries["b"], state="disable")
    # c and d both have load 0: the lower id wins (the model orders by load, then id)
    expected = min(("c", "d"), key=lambda name: entries[name])
    assert world.place() == expected
    assert world.place("gpu") == "a"


ROOMS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(0, 5), st.integers(0, 30), st.booleans()),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(ROOMS)
def test_replay_per_server_sums_equal_the_walk_over_every_meeting(rooms):
    """The replay sums each server's rooms in creation order: the same float additions, bit for bit, as
    walking every meeting and adding it to its server (and an empty server is 0.0, a float)."""
    settings_ = load_settings()
    world = SimWorld(random.Random(9))
    for n in range(4):
        world.add_bbb_server(f"s{n}", "secret", 300, T0)
    for i, (server, participants, video, minutes_old, ends) in enumerate(rooms):
        world.create_meeting(
            f"m{i}",
            T0 - timedelta(minutes=minutes_old),
            participants=participants,
            video=video,
            server=f"s{server}",
        )
        if ends and i % 3 == 0:
            world.end_meeting(f"m{i // 2}")

    class Runtime:
        settings = settings_

    walk = {name: (0.0, node.capacity_units) for name, node in world.nodes.items()}
    real = settings_.weights.model_copy(update={"young_room_participants": 0})
    for m in world.meetings.values():
        units, capacity = walk[m.server]
        walk[m.server] = (units + meeting_units(m.as_meeting(), real, T0), capacity)
    got = Replay([], world, Runtime(), SimClock(T0))._server_units(T0)[0]
    assert got == walk
    assert all(type(units) is float for units, _ in got.values())


def test_a_room_is_created_and_filled_at_seconds_of_its_own():
    """The create comes a few seconds after the trace's minute, each pupil joins at a second of their
    own over the ramp, mics/webcams/listeners follow in proportion; the room is full after the ramp."""
    from bbbsim.traces import TraceMeeting

    world = _world()
    world.poll(T0 - timedelta(minutes=1))
    room = TraceMeeting(
        "class", T0, T0 + timedelta(hours=1), participants=25, voice=7, video=3, listen_only=18
    )

    class Runtime:
        settings = load_settings()

    replay = Replay([room], world, Runtime(), SimClock(T0), tick=lambda now: None, seed=3)
    seen = []
    for second in range(0, 7 * 60, 5):
        replay._feed(T0 + timedelta(seconds=second))
        m = world.meetings.get("class")
        seen.append(m.participants if m else 0)
    created = world.meetings["class"].create_time
    assert T0 <= created < T0 + timedelta(minutes=1)
    assert seen == sorted(seen) and seen[-1] == 25
    assert len(set(seen)) > 10  # one by one, not one batch a minute
    m = world.meetings["class"]
    assert (m.voice, m.video, m.listen_only) == (7, 3, 18)


def test_a_long_idle_span_runs_no_poll_rounds_nor_looks_and_the_figures_are_the_plain_replays(monkeypatch):
    """Two classes days apart: Scalelite's poller and the burst guard went on through the idle days (30
    days: 41,769 rounds and 173,330 looks, 51 s for 532 ticks). They now stop 30 minutes into a span of
    20 hours or more and start again 30 minutes before its end, and the figures are the plain replay's."""
    import bbbsim.replay
    from bbbsim.simulate import simulate
    from bbbsim.traces import TraceMeeting

    def class_on(day: int) -> TraceMeeting:
        start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC) + timedelta(days=day)
        return TraceMeeting(f"c{day}", start, start + timedelta(hours=1), 20, 5, 1, 15)

    from tests.unit.test_never_twice import small_settings

    cfg, trace = small_settings(), [class_on(0), class_on(2)]  # 2 owned servers, 2 hosters
    skipped = simulate(cfg, trace)
    monkeypatch.setattr(bbbsim.replay, "QUIET_SPAN", timedelta(days=365))
    plain = simulate(cfg, trace)
    assert plain["scalelite"]["polls"] > 2_500 and plain["guard"]["looks"] > 10_000  # 2 idle days' worth
    assert skipped["scalelite"]["polls"] < 700 and skipped["guard"]["looks"] < 0.5 * plain["guard"]["looks"]
    for key in ("ticks", "cost", "server_hours", "overloaded_server_minutes", "rejected_meetings", "herding"):
        assert skipped[key] == plain[key], key
