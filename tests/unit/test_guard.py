"""The burst guard's decisions (pure) and its memory of room sizes: tables of cases and invariants."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.guard import GuardServer, decide_guard, projected_units, spread
from chalicelib.domain.rooms import MAX_ROOMS, RoomSizes


def server(name, projected, state="enabled", held=False, serve=True, capacity=300.0, online=True):
    return GuardServer(name, name, state, online, capacity, projected, 5, held, serve)


def acts(actions):
    return sorted((a.action, a.name) for a in actions)


def test_projection_counts_filling_rooms_at_their_expected_size_and_settled_ones_as_they_are():
    assert projected_units([(8.0, 30.0, True), (40.0, 30.0, True), (20.0, 90.0, False)]) == 30 + 40 + 20


def test_cordons_servers_heading_past_the_threshold_fullest_first_and_keeps_the_others():
    servers = [server("a", 280), server("b", 260), server("c", 100), server("d", 90), server("e", 50)]
    actions = decide_guard(servers, threshold=0.85, reopen_below=0.75)
    assert acts(actions) == [("cordon", "a"), ("cordon", "b")]
    assert all("past 85 %" in a.reason for a in actions)


def test_never_fewer_enabled_servers_than_the_minimum():
    servers = [server("a", 290), server("b", 280), server("c", 270)]
    assert acts(decide_guard(servers, 0.85, 0.75, min_enabled=2)) == [("cordon", "a")]


def test_keeps_servers_below_capacity_when_the_burst_needs_more_room_than_the_rest_has():
    servers = [server("a", 310), server("b", 270), server("c", 100)]  # c has 155 units of spare
    assert acts(decide_guard(servers, 0.85, 0.75, incoming_units=100, min_enabled=1)) == [
        ("cordon", "a"),
        ("cordon", "b"),
    ]
    # 400 units still to come: b (below capacity) stays; a (over capacity) is cordoned anyway.
    assert acts(decide_guard(servers, 0.85, 0.75, incoming_units=400, min_enabled=1)) == [("cordon", "a")]


def test_enables_its_own_cordons_once_they_have_room_even_when_the_poller_disabled_them():
    servers = [
        server("a", 200, "cordoned", held=True),
        server("b", 0, "disabled", held=True),  # the poller disabled it at load 0
        server("c", 240, "cordoned", held=True),  # still above reopen_below
        server("d", 10, "cordoned", held=False),  # an operator's cordon: not the guard's
        server("e", 0, "disabled", held=True, serve=False),  # being drained: never enabled
        server("f", 100),
    ]
    assert acts(decide_guard(servers, 0.85, 0.75)) == [("enable", "a"), ("enable", "b")]


def test_short_of_room_it_enables_held_servers_that_still_have_some():
    servers = [server("a", 240, "cordoned", held=True), server("b", 250), server("c", 200)]
    assert acts(decide_guard(servers, 0.85, 0.75, incoming_units=100, min_enabled=1)) == [("enable", "a")]


def test_a_cordon_the_poll_undid_is_made_again_and_says_so():
    (action,) = decide_guard([server("a", 290, held=True), server("b", 10), server("c", 10)], 0.85, 0.75)
    assert action.action == "cordon" and "poll undid" in action.reason


def test_servers_offline_or_not_meant_to_serve_are_left_alone():
    servers = [server("a", 299, online=False), server("b", 299, serve=False), server("c", 1), server("d", 1)]
    assert decide_guard(servers, 0.85, 0.75) == []


GUARDED = st.lists(
    st.tuples(
        st.floats(0, 400),
        st.sampled_from(["enabled", "cordoned", "disabled"]),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(GUARDED, st.floats(0, 2000), st.integers(1, 5))
def test_invariants(rows, incoming, minimum):
    """Only cordon and enable; enable only its own cordons of servers meant to serve; cordon only
    enabled servers; never leave fewer than `minimum` enabled of those it may touch when it cordons."""
    servers = [
        server(f"s{i}", p, state, held, serve, online=online)
        for i, (p, state, held, serve, online) in enumerate(rows)
    ]
    by_name = {s.name: s for s in servers}
    actions = decide_guard(servers, 0.85, 0.75, incoming, minimum)
    assert len({a.name for a in actions}) == len(actions)
    for a in actions:
        s = by_name[a.name]
        assert a.action in ("cordon", "enable") and s.online and s.meant_to_serve
        if a.action == "enable":
            assert s.guard_cordoned and s.state != "enabled"
        else:
            assert s.state == "enabled" and s.ratio >= 0.85
    if any(a.action == "cordon" for a in actions):
        mine = [s for s in servers if s.online and s.meant_to_serve]
        enabled_after = {s.name for s in mine if s.state == "enabled"} | {
            a.name for a in actions if a.action == "enable"
        }
        enabled_after -= {a.name for a in actions if a.action == "cordon"}
        assert len(enabled_after) >= minimum


def test_spread_of_rooms_and_load_per_server():
    found = spread([(10, 300.0, 300.0), (10, 150.0, 300.0), (0, 0.0, 300.0), (20, 450.0, 300.0)])
    assert (found.servers, found.overloaded) == (3, 1)
    assert round(found.rooms_mean, 2) == 13.33 and 0.35 < found.rooms_cv < 0.36
    assert round(found.load_mean, 3) == 1.0 and 0.40 < found.load_cv < 0.41
    assert "3 servers" in found.describe()


def test_room_sizes_learn_per_room_then_per_slot_then_default():
    sizes = RoomSizes(default_units=25.0)
    assert sizes.expected("6B", 1000, "08:00") == (25.0, "default")
    sizes.learn("6B", 1000, 30.0, "08:00")
    sizes.learn("6B", 1000, 34.0, "08:00")  # same session, larger: the largest settled figure
    assert sizes.expected("6B", 1000) == (34.0, "room")  # this session so far
    assert sizes.expected("6B", 2000) == (34.0, "room")  # next week's session: last week's size
    sizes.learn("6B", 2000, 40.0, "08:00")
    assert sizes.expected("6B", 3000) == (37.0, "room")  # mean of the sessions
    for i in range(10):
        sizes.learn(f"r{i}", 1000, 10.0, "09:00")
    assert sizes.expected("new", 5, "09:00") == (10.0, "slot")
    assert sizes.expected("new", 5, "10:00") == (25.0, "default")


def test_room_sizes_round_trip_through_the_store_and_forget_the_oldest():
    sizes = RoomSizes(default_units=25.0)
    for i in range(MAX_ROOMS + 5):
        sizes.learn(f"r{i}", 1000, float(i % 40), "08:00")
    assert len(sizes.rooms) == MAX_ROOMS and "r0" not in sizes.rooms
    again = RoomSizes.from_json(sizes.as_json(), 25.0)
    assert again.rooms == sizes.rooms and again.slots == sizes.slots
    assert RoomSizes.from_json({"rooms": {"x": "bad"}, "slots": []}, 25.0).rooms == {}
