"""The simulated world behaves like BBB behind Scalelite v1.8 (placement, poller, power, billing)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bbbsim.cloud import SimulatedCloud
from bbbsim.direct import DirectBbb, DirectScalelite
from bbbsim.world import SimWorld
from chalicelib.config import LoadWeights, ProviderSettings
from chalicelib.domain.load import meeting_units
from chalicelib.ports import ApiError, LaunchSpec, ProviderContext, UnreachableError

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
OLD = T0 - timedelta(hours=1)


def fleet(n: int, state: str = "enabled") -> tuple[SimWorld, list[str]]:
    """A world with n BBB servers s0..s{n-1}, registered in Scalelite, online (as if polled)."""
    world = SimWorld(random.Random(1))
    ids = []
    for i in range(n):
        world.add_bbb_server(f"s{i}", f"secret{i}", 300, OLD)
        ids.append(world.add_server(f"sim://s{i}", f"secret{i}", state=state, online=True).id)
    return world, ids


def test_placement_goes_to_the_least_loaded_enabled_server():
    world, ids = fleet(3)
    world.create_meeting("busy", OLD, participants=30, server="s0")
    world.create_meeting("medium", OLD, participants=10, server="s1")
    world.poll(T0)
    loads = {e.url: e.load for e in world.scalelite_servers()}
    assert loads == {"sim://s0": 30.0, "sim://s1": 10.0, "sim://s2": 0.0}
    assert world.create_meeting("new", T0, participants=5) == "s2"
    # Between polls each create adds 1 to the chosen server's load (Server#increment_load).
    assert world.scalelite_server(ids[2]).load == 1.0


def test_young_rooms_count_as_fifteen_users_and_moderators_count_twice():
    world, _ = fleet(2)
    world.create_meeting("young", T0 - timedelta(minutes=5), participants=2, server="s0")
    world.create_meeting("old", OLD, participants=9, moderators=1, server="s1")  # 9 + 1 = 10
    world.poll(T0)
    loads = {e.url: e.load for e in world.scalelite_servers()}
    assert loads == {"sim://s0": 15.0, "sim://s1": 10.0}
    assert world.create_meeting("next", T0) == "s1"
    world.poll(T0 + timedelta(minutes=11))  # "young" is now 16 min old: 2 users
    assert world.scalelite_servers()[0].load == 2.0


def test_breakout_rooms_sit_beside_their_parent_and_do_not_count_in_scalelite_load():
    world, _ = fleet(2)
    world.create_meeting("class", OLD, participants=20, server="s0")
    assert world.create_meeting("class-b1", OLD, participants=8, is_breakout=True, parent_id="class") == "s0"
    world.poll(T0)
    assert world.scalelite_servers()[0].load == 20.0
    world.end_meeting("class")
    assert world.meetings_of("s0") == []


def test_a_freshly_enabled_server_gets_no_meeting_before_the_next_poll():
    world = SimWorld(random.Random(1))
    world.add_bbb_server("s0", "secret", 300, OLD)
    entry = world.add_server("sim://s0", "secret")
    assert (entry.state, entry.online, entry.load) == ("disabled", False, None)
    world.update_server(entry.id, state="enable")
    assert world.create_meeting("m1", T0) is None
    assert world.rejected_meetings == 1
    world.poll(T0)
    assert world.create_meeting("m2", T0) == "s0"


def test_untagged_meetings_never_go_to_tagged_servers():
    world, ids = fleet(2)
    world.update_server(ids[0], tag="bbbscale")
    world.poll(T0)
    assert {world.create_meeting(f"m{i}", T0) for i in range(4)} == {"s1"}
    assert world.create_meeting("tagged", T0, server_tag="bbbscale") == "s0"


def test_poller_turns_an_empty_cordoned_server_disabled_and_keeps_a_busy_one_cordoned():
    world, ids = fleet(2)
    world.create_meeting("class", OLD, participants=20, server="s0")
    for server_id in ids:
        world.update_server(server_id, state="cordon")
    world.poll(T0)
    assert [e.state for e in world.scalelite_servers()] == ["cordoned", "disabled"]
    assert world.create_meeting("another", T0) is None
    world.end_meeting("class")
    world.poll(T0 + timedelta(minutes=1))
    assert [e.state for e in world.scalelite_servers()] == ["disabled", "disabled"]
    assert world.killed_meetings == []


def test_two_failed_polls_take_a_server_offline_and_scalelite_ends_its_meetings():
    world, ids = fleet(2)
    world.create_meeting("class", OLD, participants=20, server="s0")
    world.set_fault("s0", offline=True)
    world.poll(T0)
    assert world.scalelite_server(ids[0]).online and world.killed_meetings == []
    world.poll(T0 + timedelta(minutes=1))
    entry = world.scalelite_server(ids[0])
    assert (entry.online, entry.load) == (False, None)
    assert world.killed_meetings == [("class", "s0", "scalelite: server offline after failed polls")]
    world.set_fault("s0", offline=False)
    world.poll(T0 + timedelta(minutes=2))
    assert world.scalelite_server(ids[0]).online  # one good poll brings it back


def test_one_failed_poll_between_good_ones_does_not_take_a_server_offline():
    world, ids = fleet(1)
    world.create_meeting("class", OLD, participants=20)
    for minute, fault in enumerate([True, False, True, False]):
        world.set_fault("s0", api_error=fault)
        world.poll(T0 + timedelta(minutes=minute))
    assert world.scalelite_server(ids[0]).online and world.killed_meetings == []


def test_power_off_with_meetings_kills_and_counts_them():
    world, _ = fleet(2)
    world.create_meeting("a", OLD, participants=5)
    world.create_meeting("b", OLD, participants=5)
    assert sorted(world.power_off("s0") + world.power_off("s1")) == ["a", "b"]
    assert {k[2] for k in world.killed_meetings} == {"stopped with meetings"}
    assert len(world.killed_meetings) == 2


def test_get_meetings_fails_as_a_whole_when_one_server_errors():
    world, _ = fleet(2)
    world.create_meeting("a", OLD, participants=5, server="s0")
    world.set_fault("s1", api_error=True)
    with pytest.raises(ApiError) as failure:
        world.scalelite_meetings()
    assert failure.value.key == "internalError"
    with pytest.raises(ApiError):
        DirectScalelite(world).meetings()
    with pytest.raises(UnreachableError):
        DirectBbb(world, "s1").meetings()
    assert DirectBbb(world, "s0").meetings().totals.participants == 5


def test_direct_scalelite_admin_round_trip_and_deletion_hides_meetings():
    world, _ = fleet(1)
    scalelite = DirectScalelite(world)
    world.add_bbb_server("n1", "k", 300, OLD)
    added = scalelite.add("sim://n1", "k", 1.0, None)
    assert (added.state, added.online, added.load) == ("disabled", False, None)
    scalelite.set_state(added.id, "enabled")
    world.poll(T0)
    assert {s.id: s.state for s in scalelite.servers()}[added.id] == "enabled"
    world.create_meeting("m", T0 - timedelta(hours=1), participants=3)  # s0 has 0 load, n1 has 0: tie by id
    server_id = next(s.id for s in scalelite.servers() if s.url == f"sim://{world.meetings['m'].server}")
    scalelite.delete(server_id)  # does not look for meetings, like Scalelite
    assert world.hidden_meetings() == ["m"]
    with pytest.raises(ApiError):
        scalelite.set_state("nope", "enabled")
    with pytest.raises(ApiError):
        scalelite.set_state(added.id, "sideways")


def test_overload_accounting_uses_the_callers_cost_model():
    world, _ = fleet(1)
    world.create_meeting("webcams", OLD, participants=20, video=20)
    cost = lambda m: meeting_units(m, LoadWeights(), T0)  # noqa: E731
    units, capacity = world.server_units(cost)["s0"]
    assert units == pytest.approx(5 + 20 + 20 + 0.1 * 20 * 19) and capacity == 300
    world.resize_meeting("webcams", participants=60, video=60)
    assert world.overloaded(cost) == ["s0"]


def _cloud(world: SimWorld, clock: list[datetime], **settings) -> SimulatedCloud:
    context = ProviderContext(cluster="demo", now=lambda: clock[0], secret=lambda _: None)
    return SimulatedCloud("hoster", ProviderSettings(**settings), {}, context, world)


def test_billing_counts_each_started_hour():
    world = SimWorld()
    clock = [T0]
    cloud = _cloud(world, clock, hourly_cost=0.5, billing="hour", boot_minutes=0)
    vm = cloud.create([LaunchSpec("vm1", tags={"bbbscale:cluster": "demo"})])[0]
    clock[0] = T0 + timedelta(minutes=61)
    cloud.stop(vm.vm_id)
    assert cloud.bill(clock[0]) == pytest.approx(1.0)  # 61 minutes = 2 started hours
    assert cloud.server_seconds(clock[0]) == 61 * 60
    clock[0] = T0 + timedelta(hours=5)
    cloud.start(vm.vm_id)
    assert cloud.bill(clock[0]) == pytest.approx(1.5)  # a run just started is a started hour


def test_per_second_billing_is_exact():
    world = SimWorld()
    clock = [T0]
    cloud = _cloud(world, clock, hourly_cost=3.6, billing="second", boot_minutes=0)
    vm = cloud.create([LaunchSpec("vm1")])[0]
    clock[0] = T0 + timedelta(seconds=100)
    cloud.destroy(vm.vm_id)
    assert cloud.bill(clock[0]) == pytest.approx(0.1)


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["create", "cordon", "disable", "enable", "offline", "online", "poll", "end"]),
        st.integers(0, 3),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_placement_never_picks_a_cordoned_disabled_or_offline_server(events):
    world, ids = fleet(4)
    now = T0
    for n, (event, i) in enumerate(events):
        now += timedelta(seconds=20)
        if event == "create":
            by_name = {e.url[6:]: e for e in world.scalelite_servers()}
            server = world.create_meeting(f"m{n}", now, participants=i * 7)
            if server is not None:
                entry = by_name[server]
                assert entry.state == "enabled" and entry.online, (server, entry)
        elif event in ("cordon", "disable", "enable"):
            world.update_server(ids[i], state=event)
        elif event in ("offline", "online"):
            world.set_fault(f"s{i}", offline=event == "offline")
        elif event == "poll":
            world.poll(now)
        elif world.meetings:
            world.end_meeting(sorted(world.meetings)[i % len(world.meetings)])


def test_direct_bbb_reports_health_secret_errors_and_pending_recordings():
    world, _ = fleet(1)
    world.add_bbb_server("booting", "k", 300, T0, answering=False)
    assert not DirectBbb(world, "booting").healthy() and not DirectBbb(world, "gone").healthy()
    assert DirectBbb(world, "s0", "secret0").healthy()
    assert not DirectBbb(world, "s0", "wrong").healthy()
    with pytest.raises(ApiError) as failure:
        DirectBbb(world, "s0", "wrong").meetings()
    assert failure.value.key == "checksumError"
    world.set_recordings_pending("s0", 3)
    assert DirectBbb(world, "s0").recordings_pending() == 3


def test_load_multiplier_scales_scalelite_load_and_cordoned_servers_stay_in_get_meetings():
    world, ids = fleet(2)
    world.update_server(ids[0], load_multiplier=2.5)
    world.create_meeting("a", OLD, participants=4, server="s0")
    world.create_meeting("b", OLD, participants=9, server="s1")
    world.poll(T0)
    assert [e.load for e in world.scalelite_servers()] == [10.0, 9.0]
    world.update_server(ids[1], state="cordon")
    assert {m.meeting_id for m in world.scalelite_meetings()} == {"a", "b"}
    world.update_server(ids[1], state="disable")
    assert {m.meeting_id for m in world.scalelite_meetings()} == {"a"}
    with pytest.raises(ValueError):
        world.update_server(ids[0], load_multiplier=0)


@settings(max_examples=40, deadline=None)
@given(EVENTS)
def test_without_faults_or_power_offs_no_meeting_is_ever_killed(events):
    world, ids = fleet(4)
    now = T0
    for n, (event, i) in enumerate(events):
        now += timedelta(seconds=20)
        if event == "create":
            world.create_meeting(f"m{n}", now, participants=i * 7)
        elif event in ("cordon", "disable", "enable"):
            world.update_server(ids[i], state=event)
        elif event == "poll":
            world.poll(now)
    assert world.killed_meetings == []


def test_increments_only_on_enabled_servers_and_never_for_a_running_meetings_create():
    world, ids = fleet(2)
    world.poll(T0)
    first = world.create_meeting("class", T0)
    assert world.create_meeting("class", T0) == first  # a create of a running meeting adds nothing
    if first == "s1":
        ids.reverse()
    other = "s1" if first == "s0" else "s0"
    world.join_meeting("class", users=3)
    assert world.scalelite_server(ids[0]).load == 4.0
    world.update_server(ids[0], state="cordon")
    world.join_meeting("class", users=2)  # joins to a cordoned server still work, and add nothing
    assert world.scalelite_server(ids[0]).load == 4.0 and world.meetings["class"].participants == 5
    world.update_server(ids[0], state="enable")
    assert world.scalelite_server(ids[0]).load == 4.0  # its load comes back at once
    world.update_server(ids[0], state="cordon")
    world.end_meeting("class")
    assert world.create_meeting("class", T0) == other  # re-created once it no longer runs: placed anew
    assert world.refused_joins == 0


def test_joins_to_a_disabled_or_offline_server_are_refused_and_counted():
    world, ids = fleet(2)
    world.create_meeting("a", T0, participants=3, server="s0")
    world.create_meeting("b", T0, participants=3, server="s1")
    world.update_server(ids[0], state="disable")
    assert world.join_meeting("a", users=2) is None
    assert world.meetings["a"].participants == 3
    world.set_fault("s1", offline=True)
    world.poll(T0)
    world.poll(T0 + timedelta(minutes=1))  # two failed polls: offline (and its meetings ended)
    world.create_meeting("c", T0, participants=1, server="s1")
    assert world.join_meeting("c") is None
    assert world.refused_joins == 3


def test_poller_rounds_run_on_their_own_clock_sleep_after_each_round_and_drift():
    world = SimWorld(random.Random(1), poll_interval_s=60, poll_phase_s=7)
    for i in range(8):
        world.add_bbb_server(f"s{i}", "x", 300, OLD)
        world.add_server(f"sim://s{i}", "x", state="enabled", online=True)
    starts = []
    now = T0
    world.run_poller(now)  # the first round waits for the phase
    while len(starts) < 4:
        now = world.next_poll_event()
        before = world.last_poll
        world.run_poller(now)
        if world.last_poll != before:
            starts.append(world.last_poll)
    assert starts[0] == T0 + timedelta(seconds=7)
    gaps = {(b - a).total_seconds() for a, b in zip(starts, starts[1:])}
    assert gaps == {60 + world.round_seconds} and world.round_seconds > 0  # 8 servers / 4 threads x 0.1 s


def test_a_state_change_made_during_a_round_is_undone_in_placement_but_not_in_the_record():
    """Scalelite v1.6.1 app/models/server.rb `save!`: the round writes no state it did not change itself,
    but puts the load it computed into the set of the state it READ at its start (`server_load` for a
    server read enabled), if that load moved. Seen on the real Scalelite (tests/real_scalelite/)."""
    world, ids = fleet(8)
    world.create_meeting("class", OLD, participants=20, server="s0")
    world.create_meeting("other", OLD, participants=5, server="s1")
    world.next_poll = T0
    world.run_poller(T0)  # the round starts: records read (loads 0: never polled with these rooms)
    world.update_server(ids[0], state="cordon")
    world.update_server(ids[1], state="disable")
    assert world.scalelite_server(ids[0]).state == "cordoned"
    world.run_poller(T0 + timedelta(seconds=world.round_seconds))  # ... and saved, server by server
    assert [world.scalelite_server(i).state for i in ids[:2]] == ["cordoned", "disabled"]
    assert world.scalelite_server(ids[0]).load == 0.0  # cordoned_server_load: frozen at the cordon
    assert world.scalelite_server(ids[1]).load is None  # disabled: "unavailable"
    assert world.placement_set()[ids[0]] == 20.0 and world.placement_set()[ids[1]] == 5.0
    assert world.place() not in ("s0", "s1")  # the empty ones first ...
    world.update_server(ids[0], state="cordon")  # the same state again: nothing written
    assert ids[0] in world.placement_set()
    world.update_server(ids[0], state="enable")
    world.update_server(ids[0], state="cordon")  # enable then cordon: out of placement
    assert ids[0] not in world.placement_set()
    world.run_poller(world.next_poll_event())
    world.run_poller(world.next_poll_event())
    assert world.scalelite_server(ids[0]).state == "cordoned"
