"""bench/guard_floor.py's model: Scalelite's placement as v1.6.1 does it, and the all-knowing guard."""

from __future__ import annotations

import ast
import random
import statistics
from pathlib import Path

import pytest

from tests.support.bench_scripts import BENCH, load_bench

floor = load_bench("guard_floor")


def _constants(path: Path) -> dict[str, object]:
    tree = ast.parse(path.read_text())
    return {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant)
    }


def test_the_model_s_burst_is_the_real_bench_s():
    real = _constants(BENCH / "real_scalelite_bursts.py")
    assert (floor.SPREAD_S, floor.JOIN_S) == (real["SPREAD_S"], real["JOIN_S"])


def test_scalelite_places_on_the_lowest_load_and_counts_a_create_and_its_teacher():
    scalelite = floor.Placement([10.0, 15.0, 40.0])
    assert [scalelite.create() for _ in range(4)] == [0, 0, 0, 1]  # 10 -> 12 -> 14 -> 16 > 15
    assert scalelite.load == [16.0, 17.0, 40.0]


def test_a_cordoned_server_takes_nothing_and_its_load_stays_frozen():
    scalelite = floor.Placement([10.0, 15.0], [False, True])
    assert scalelite.create() == 1
    scalelite.join(0)
    scalelite.join(1)
    assert scalelite.load == [10.0, 18.0]
    scalelite.placeable[1] = False
    assert scalelite.create() is None  # an empty set: Scalelite rejects the create


def test_scalelite_alone_places_every_room():
    burst = floor.make_burst(random.Random(3), stale=False)
    out = floor.run_burst(burst, floor.Guard("none", 0.0, 0.0))
    assert out.rejected == 0
    assert sum(out.rooms) == sum(burst.older) + floor.ROOMS


@pytest.mark.parametrize("min_open", [1, 2])
def test_the_guard_never_leaves_fewer_placeable_servers_than_min_open(min_open):
    burst = floor.make_burst(random.Random(5), stale=True)
    eager = floor.Guard("share", 0.1, 0.0, slack=100.0, min_open=min_open)  # cordons everything it may
    out = floor.run_burst(burst, eager)
    assert out.rejected == 0
    assert sum(1 for n, older in zip(out.rooms, burst.older) if n > older) == min_open


def test_knowing_every_room_spreads_better_than_scalelite_alone_and_faster_looks_better_still():
    bursts = [floor.make_burst(random.Random(k), stale=False) for k in range(60)]

    def mean_cv(guard):
        return statistics.mean(floor.run_burst(b, guard).cv for b in bursts)

    alone = mean_cv(floor.Guard("none", 0.0, 0.0))
    slow = mean_cv(floor.Guard("share", 0.38, 0.03, 0.5))
    fast = mean_cv(floor.Guard("share", 0.05, 0.01, 0.5))
    assert fast < slow < alone / 2


@pytest.mark.parametrize(("min_open", "reached"), [(2, False), (1, True)])
def test_a_server_stale_loads_show_fullest_gets_rooms_only_when_it_alone_may_stay_placeable(
    min_open, reached
):
    """The last lesson still counted, the server that looks fullest to Scalelite is its last choice: it
    takes a room only once every other one is cordoned, which min_open 2 never allows."""
    burst = floor.Burst(
        older=[2, 2, 2],
        loads=[500.0, 50.0, 60.0],
        arrivals=[0.1 * k for k in range(1, 13)],
        joins=[[100.0]] * 12,  # the pupils come after the burst
    )
    out = floor.run_burst(burst, floor.Guard("share", 0.05, 0.0, 0.5, min_open=min_open))
    assert out.rejected == 0
    assert (out.rooms[0] > 2) is reached


def test_steering_keeps_only_the_fewest_roomed_placeable_and_brings_a_held_one_back():
    guard = floor.Guard("steer", 0.38, 0.03, min_open=2)
    # servers 1 and 2 have the fewest rooms; of the equals 1 and 2, Scalelite's lower load comes first
    changes = guard.wanted([5, 3, 3, 4], [True, True, False, True], 15, [40.0, 30.0, 20.0, 35.0])
    assert sorted(changes) == [(0, False), (2, True), (3, False)]


def test_a_cordon_an_enable_and_a_cordon_within_three_seconds_is_a_flap():
    assert floor._flaps([(0.0, False), (1.0, True), (2.9, False)]) == 1
    assert floor._flaps([(0.0, False), (1.0, True), (3.5, False)]) == 0  # the last cordon 3.5 s after
    assert floor._flaps([(0.0, True), (1.0, False), (2.0, True)]) == 0


def test_steering_spreads_no_better_than_the_share_and_flaps_where_the_share_never_does():
    bursts = [floor.make_burst(random.Random(k), stale=False) for k in range(60)]
    share = [floor.run_burst(b, floor.Guard("share", 0.38, 0.03, 0.5)) for b in bursts]
    steer = [floor.run_burst(b, floor.Guard("steer", 0.38, 0.03)) for b in bursts]
    assert all(o.rejected == 0 for o in share + steer)
    assert statistics.mean(o.cv for o in steer) > statistics.mean(o.cv for o in share)
    assert sum(o.flaps for o in share) == 0 < sum(o.flaps for o in steer)


def test_a_quick_look_infers_the_rooms_from_the_load_s_rise_beyond_the_pupils_pace():
    # read: 3 rooms at load 100; a second later the load is 110, the pupils come at 2 a second: 4 rooms
    assert floor.inferred_rooms(3, 100.0, 110.0, 2.0, 1.0) == 7
    assert floor.inferred_rooms(3, 100.0, 101.0, 2.0, 1.0) == 3  # pupils alone: never fewer than read


def test_quick_looks_cordon_a_server_taking_a_looks_rooms_before_the_next_read():
    """Nine rooms land within one read's interval on the server Scalelite sees lowest: read every 0.38 s,
    the share rule sees them only once all are in; getServers looks every 0.05 s see its load rise by 2
    a room and cordon it at its share (4 rooms of 12 on 3 servers)."""
    burst = floor.Burst(
        older=[1, 1, 1],
        loads=[10.0, 50.0, 50.0],
        arrivals=[0.06 + 0.03 * k for k in range(9)],
        joins=[[100.0]] * 9,  # the pupils come after the burst
    )
    reads_only = floor.run_burst(burst, floor.Guard("share", 0.38, 0.03))
    quick = floor.run_burst_quick(burst, floor.Guard("quick", 0.38, 0.03))
    assert reads_only.rooms == [10, 1, 1]
    assert quick.rejected == 0 and quick.rooms[0] == 5 and sorted(quick.rooms[1:]) == [3, 4]


def test_quick_looks_spread_between_reads_alone_and_knowing_every_room_as_often():
    bursts = [floor.make_burst(random.Random(k), stale=False) for k in range(100)]

    def mean_cv(run, guard):
        return statistics.mean(run(b, guard).cv for b in bursts)

    reads = mean_cv(floor.run_burst, floor.Guard("share", 0.38, 0.03, 0.5))
    quick = mean_cv(floor.run_burst_quick, floor.Guard("quick", 0.38, 0.03, 0.5))
    knowing = mean_cv(floor.run_burst, floor.Guard("share", floor.QUICK_S, floor.QUICK_LAG_S, 0.5))
    assert knowing < quick < reads


def test_the_creates_come_over_the_spread_asked_for_as_on_the_real_bench():
    """`--spread`: the same rooms and pupils, their creates over 16 s rather than the default 8."""
    default = floor.make_burst(random.Random(3), stale=False)
    slower = floor.make_burst(random.Random(3), stale=False, spread=16.0)
    assert max(default.arrivals) <= floor.SPREAD_S < max(slower.arrivals) <= 16.0
    assert [round(2 * a, 9) for a in default.arrivals] == [round(b, 9) for b in slower.arrivals]
    assert (default.older, default.loads, default.joins) == (slower.older, slower.loads, slower.joins)
