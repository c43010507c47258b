"""The simulator's Scalelite on v1.6.1's semantics: invariants, the measure of silently undone cordons,
and the cost of the guard's looks (the scenario tests in tests/real_scalelite/ hold the model to the real
Scalelite; these hold what the replay builds on)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bbbsim.direct import DirectScalelite
from bbbsim.look_cost import LookCost
from bbbsim.replay import Replay, SimClock
from bbbsim.world import SimWorld
from chalicelib.ports import UnreachableError

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
OLD = T0 - timedelta(hours=1)


def _world(n: int = 3) -> tuple[SimWorld, list[str]]:
    world = SimWorld(random.Random(3))
    ids = []
    for i in range(n):
        world.add_bbb_server(f"s{i}", "x", 300, OLD)
        ids.append(world.add_server(f"sim://s{i}", "x", state="enabled", online=True).id)
    world.poll(OLD)
    return world, ids


OPS = st.lists(
    st.tuples(st.sampled_from(["enable", "cordon", "disable", "create", "join", "poll"]), st.integers(0, 2)),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_between_rounds_the_placement_set_holds_only_enabled_servers(ops):
    """Without a round in flight, updateServer keeps the sets in step with the states (save! of a state
    change): placeable means reported enabled, a cordoned load belongs to a cordoned server."""
    world, ids = _world()
    for n, (op, i) in enumerate(ops):
        if op in ("enable", "cordon", "disable"):
            world.update_server(ids[i], state=op)
        elif op == "create":
            world.create_meeting(f"m{n}", T0, participants=1, moderators=1)
        elif op == "join" and world.meetings:
            world.join_meeting(sorted(world.meetings)[i % len(world.meetings)])
        elif op == "poll":
            world.poll(T0 + timedelta(minutes=n))
        for server_id in world.server_load:
            assert world.registry[server_id].state == "enabled"
        for server_id in world.cordoned_load:
            assert world.registry[server_id].state == "cordoned"
        for server_id in ids:
            world.update_server(server_id, state="enable")
            world.update_server(server_id, state="cordon")  # enable then cordon: never placeable
            assert server_id not in world.server_load
            world.update_server(server_id, state="enable")


def test_server_seconds_placeable_while_reported_cordoned_are_counted():
    world, ids = _world(2)
    world.create_meeting("class", T0, participants=20, moderators=1, server="s0")
    clock = SimClock(T0)
    world.clock = clock
    world.next_poll = T0
    world.run_poller(T0)  # a round reads both servers enabled
    clock.set(T0 + timedelta(seconds=0.01))
    world.update_server(ids[0], state="cordon")
    world.run_poller(T0 + timedelta(seconds=world.round_seconds))  # the silent undo
    assert ids[0] in world.placement_set() and world.scalelite_server(ids[0]).state == "cordoned"
    world.account(T0 + timedelta(seconds=30))
    assert world.placeable_cordoned_s == pytest.approx(30 - world.round_seconds)
    clock.set(T0 + timedelta(seconds=40))
    world.update_server(ids[0], state="enable")
    world.update_server(ids[0], state="cordon")
    world.account(T0 + timedelta(seconds=100))
    assert world.placeable_cordoned_s == pytest.approx(40 - world.round_seconds)


def test_a_look_cost_charges_only_while_active_and_fails_as_seeded():
    waits = []
    cost = LookCost(latency_s=0.05, failure_rate=0.5, seed=7, on_wait=waits.append)
    cost.pay("getServers")
    assert (cost.calls, waits) == (0, [])
    cost.active = True
    outcomes = []
    for _ in range(40):
        try:
            cost.pay("getServers")
            outcomes.append(True)
        except UnreachableError:
            outcomes.append(False)
    again = LookCost(latency_s=0.05, failure_rate=0.5, seed=7, active=True, on_wait=lambda s: None)
    replayed = []
    for _ in range(40):
        try:
            again.pay("getServers")
            replayed.append(True)
        except UnreachableError:
            replayed.append(False)
    assert outcomes == replayed and 5 < outcomes.count(False) < 35
    assert waits == [0.05] * 40 and cost.failures == outcomes.count(False)
    cost.failure_rate = 0.0
    cost.pay("getMeetings", per_server=True)
    assert waits[-1] == pytest.approx(0.05 / 32)
    with pytest.raises(ValueError):
        LookCost(latency_s=-1)


class _Looker:
    """A guard that reads getServers twice per look, noting the clock at each read."""

    def __init__(self, port, clock):
        self.port, self.clock, self.seen, self.done = port, clock, [], False

    def next_check(self, now):
        return None if self.done else T0 + timedelta(seconds=1)

    def check(self, now):
        self.done = True
        for _ in range(2):
            count = len(self.port.servers())  # answered once the call's time has passed
            self.seen.append((self.clock(), count))


def test_a_looks_calls_take_time_during_which_the_world_goes_on():
    world, _ = _world(1)
    clock = SimClock(T0)
    cost = LookCost(latency_s=0.5)
    looker = _Looker(DirectScalelite(world), clock)
    replay = Replay([], world, None, clock, tick=lambda now: None, guard=looker, look_cost=cost)
    world.add_bbb_server("late", "x", 300, OLD)
    replay._push((T0 + timedelta(seconds=1.7)).timestamp(), 0, None)  # an event between the two calls
    handled = []
    replay._handle = lambda at, kind, payload: handled.append(clock())
    replay._feed(T0 + timedelta(seconds=5))
    assert [at for at, _ in looker.seen] == [T0 + timedelta(seconds=1.5), T0 + timedelta(seconds=2)]
    assert handled and handled[0] < T0 + timedelta(seconds=2)  # happened during the look
    assert cost.calls == 2 and cost.waited_s == pytest.approx(1.0)


def test_the_replays_create_counts_the_teachers_join_too():
    """Scalelite adds 1 at the create (increment_load) and 1 at the teacher's join (its join action)."""
    from bbbsim.traces import TraceMeeting

    world, ids = _world(1)
    clock = SimClock(T0)
    lesson = TraceMeeting("lesson", T0 + timedelta(seconds=5), T0 + timedelta(minutes=50), 1, 0, 0, 0)
    replay = Replay([lesson], world, None, clock, tick=lambda now: None)
    world.next_poll = T0 + timedelta(hours=1)  # no poll round in between
    replay._feed(T0 + timedelta(seconds=30))
    assert world.meetings["lesson"].moderators == 1
    assert world.placement_set() == {ids[0]: 2.0}


def test_each_server_is_saved_when_its_own_getmeetings_answered_and_a_slow_one_past_the_timeout_never():
    """poll.rake: futures on POLLER_THREADS - 1 = 4 workers, each saving its server when its getMeetings
    answered; `wait!(POLLER_WAIT_TIMEOUT)` then `wait_for_termination(5)` and `kill` (15 s at most)."""
    world, ids = _world(6)
    world.getmeetings_seconds = {"s1": 3.0, "s5": 20.0}
    for i in range(6):
        world.create_meeting(f"m{i}", OLD, participants=10 + i, server=f"s{i}")
    world.next_poll = T0
    world.run_poller(T0)
    world.update_server(ids[1], state="cordon")  # s1 answers at 3 s: the cordon is undone ...
    world.run_poller(T0 + timedelta(seconds=1))
    world.update_server(ids[0], state="cordon")  # ... s0 was saved at 0.1 s: this one holds
    world.run_poller(T0 + timedelta(seconds=30))
    assert ids[1] in world.placement_set() and ids[0] not in world.placement_set()
    assert world.scalelite_server(ids[5]).load == 0.0  # s5 (20 s) was killed unsaved: the old load
    assert world.round_seconds == 15.0
