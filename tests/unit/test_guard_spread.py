"""The burst guard spreading a burst level (issue 19, rooms CV on the real Scalelite): a cordon only where
a less full server with room takes the rooms instead, and a held server enabled again once every
placeable server is a room fuller than it; the invariants of tests/unit/test_guard.py still hold."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.guard import GuardServer, decide_guard

ROOM = 30.0  # the slot's typical room, in units


def server(name, projected, state="enabled", held=False, intake=0.0, since=float("inf"), draw=0.0):
    return GuardServer(
        name,
        name,
        state,
        True,
        300.0,
        projected,
        rooms=5,
        guard_cordoned=held,
        intake=intake,
        since_change=since,
        draw=draw,
    )


def acts(actions):
    return sorted((a.action, a.name) for a in actions)


def decide(servers, **kw):
    return decide_guard(
        servers, threshold=0.9, reopen_below=0.75, margin=0.05, floor=0.6, hold_seconds=3, **kw
    )


def test_a_fleet_heading_past_the_limit_together_is_not_cordoned_down_to_two_servers():
    # projections over-estimate young rooms: all ten head past 90 %, within a room of each other
    servers = [server(f"s{i}", 275 + 2 * i) for i in range(10)]
    assert len(acts(decide(servers))) == 8  # without spreading: all but the two least full
    assert decide(servers, spread_units=ROOM) == []


def test_the_server_scalelite_floods_is_cordoned_the_others_stay():
    servers = [server("sink", 150, intake=120), *(server(f"s{i}", 120 + 5 * i) for i in range(5))]
    assert acts(decide(servers, spread_units=ROOM)) == [("cordon", "sink")]


def test_a_held_server_a_room_below_every_placeable_one_is_enabled_again_after_the_hold():
    others = [server(f"s{i}", 260 + 3 * i) for i in range(4)]
    held = server("h", 225, "cordoned", held=True, since=5.0)  # 75 %: not below the reopening share
    (action,) = decide([held, *others], spread_units=ROOM)
    assert (action.action, action.name) == ("enable", "h") and "less full than every server" in action.reason
    assert decide([replace(held, since_change=1.0), *others], spread_units=ROOM) == []  # within its hold
    assert decide([replace(held, projected=235.0), *others], spread_units=ROOM) == []  # not a room below
    assert decide([replace(held, draw=40.0), *others], spread_units=ROOM) == []  # it would draw too much


def test_between_bursts_nothing_is_spread():
    others = [server(f"s{i}", 260 + 3 * i) for i in range(4)]
    held = server("h", 225, "cordoned", held=True, since=5.0)
    assert decide([held, *others], spread_units=ROOM, quiet=True) == []


GUARDED = st.lists(
    st.tuples(
        st.floats(0, 400),
        st.sampled_from(["enabled", "cordoned", "disabled"]),
        st.booleans(),  # held by the guard
        st.booleans(),  # Scalelite has its load
        st.sampled_from([0.0, 5.0, float("inf")]),  # since the guard's last change
        st.sampled_from([0.0, 0.0, 40.0, 120.0]),  # intake since the last look
        st.sampled_from([0.0, 0.0, 30.0, 300.0]),  # what it would draw at once if enabled
        st.one_of(st.none(), st.floats(0, 400)),  # its load in Scalelite
    ),
    max_size=25,
)


@settings(max_examples=400, deadline=None)
@given(GUARDED, st.floats(0, 2000), st.integers(1, 4), st.sampled_from([10.0, 30.0, 60.0]))
def test_spreading_keeps_the_invariants(rows, incoming, minimum, spread_units):
    servers = [
        GuardServer(
            f"s{i}", f"s{i}", state, True, 300.0, p, 5, held, True, intake, load, since, draw=d, score=score
        )
        for i, (p, state, held, load, since, intake, d, score) in enumerate(rows)
    ]
    by_name = {s.name: s for s in servers}
    actions = decide_guard(
        servers,
        threshold=0.85,
        reopen_below=0.75,
        incoming_units=incoming,
        min_enabled=minimum,
        margin=0.05,
        floor=0.6,
        hold_seconds=3,
        spread_units=spread_units,
    )
    assert len({a.name for a in actions}) == len(actions)
    for a in actions:
        s = by_name[a.name]
        if a.action == "enable":
            assert s.guard_cordoned and s.state != "enabled"
        elif a.action == "cordon":
            assert s.placeable and (s.projected + s.intake) / s.capacity >= 0.6
    could = [
        s
        for s in servers
        if s.ratio < 1.0 and (s.placeable or (s.guard_cordoned and s.state == "cordoned" and s.has_load))
    ]
    done = {a.name: a.action for a in actions}
    after = [
        s
        for s in servers
        if s.ratio < 1.0
        and (
            (s.placeable and done.get(s.name) != "cordon")
            or (done.get(s.name) == "enable" and s.state == "cordoned" and s.has_load)
        )
    ]
    assert len(after) >= min(minimum, len(could))


def test_a_fuller_server_scalelite_would_place_on_first_is_cordoned_before_the_limit():
    # Scalelite still counts the ended rooms of the last class on `needy` (its load is high until the
    # next poll): the next rooms would go to `fuller`, a room ahead, though it is below the limit (70 %).
    fuller = replace(server("fuller", 190), score=60.0)
    needy = replace(server("needy", 120), score=140.0)
    others = [replace(server(f"s{i}", 220), score=150.0 + i) for i in range(3)]
    others.append(replace(server("needy2", 125), score=145.0))  # two placeable left (min_enabled)

    def fuller_action(group):
        return {a.name: a for a in decide(group, spread_units=ROOM)}.get("fuller")

    action = fuller_action([fuller, needy, *others])
    assert action.action == "cordon" and "would take the next rooms" in action.reason
    assert fuller_action([replace(fuller, projected=170.0), needy, *others]) is None  # below the floor
    assert fuller_action([replace(fuller, score=400.0), needy, *others]) is None  # not placed on soon
