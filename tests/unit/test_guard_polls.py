"""Poll rounds as the guard sees them in getServers, and the cordons a round in flight may have undone
(Scalelite v1.6.1: the round's save puts the server back in the placement set while getServers keeps
reporting it cordoned with its load frozen; a round that read it cordoned updates that load)."""

from __future__ import annotations

from chalicelib.domain.load import Meeting
from chalicelib.ports import ScaleliteServer
from chalicelib.service.guard_polls import PollWatch, poller_load


def listed(**loads):
    """getServers: name=(state, load)."""
    return [
        ScaleliteServer(k, f"https://{k}/bigbluebutton/api", "s", v[0], True, v[1]) for k, v in loads.items()
    ]


def test_the_pollers_figure_counts_moderators_twice_and_young_rooms_as_fifteen():
    now = 10_000_000.0
    rooms = [
        Meeting("a", participants=20, moderators=1, create_time_ms=int(now - 20 * 60_000)),  # 21
        Meeting("b", participants=3, moderators=1, create_time_ms=int(now - 60_000)),  # young: 15
        Meeting("c", participants=9, is_breakout=True, create_time_ms=int(now)),  # not counted
    ]
    assert poller_load(rooms, 1.0, now) == 36 and poller_load(rooms, 2.0, now) == 72


def test_a_cordon_left_frozen_through_a_round_that_saved_others_is_suspect():
    watch = PollWatch()
    figures = {"x": 120.0}
    assert watch.look(0, listed(x=("enabled", 40.0), y=("cordoned", 200.0)), figures, set()) == {}
    watch.cordoned("x", 500)  # the guard cordons x at 0.5 s
    assert watch.look(1000, listed(x=("cordoned", 41.0), y=("cordoned", 200.0)), figures, {"x"}) == {}
    # a round saves y (its cordoned load moves) but x's reported load stays frozen at 41
    assert watch.look(2000, listed(x=("cordoned", 41.0), y=("cordoned", 230.0)), figures, set()) == {}
    found = watch.look(3000, listed(x=("cordoned", 41.0), y=("cordoned", 230.0)), figures, set())
    assert list(found) == ["x"] and "may have undone" in found["x"] and "frozen at 41" in found["x"]


def test_a_cordon_a_round_saved_as_cordoned_is_confirmed():
    watch = PollWatch()
    figures = {"x": 120.0}
    watch.look(0, listed(x=("enabled", 40.0), y=("cordoned", 200.0)), figures, set())
    watch.cordoned("x", 500)
    watch.look(1000, listed(x=("cordoned", 41.0), y=("cordoned", 200.0)), figures, {"x"})
    watch.look(2000, listed(x=("cordoned", 120.0), y=("cordoned", 230.0)), figures, set())
    assert watch.look(3000, listed(x=("cordoned", 120.0), y=("cordoned", 230.0)), figures, set()) == {}


def test_no_round_no_suspicion_and_no_figure_no_suspicion():
    watch = PollWatch()
    watch.look(0, listed(x=("enabled", 40.0), y=("enabled", 10.0)), {"x": 120.0}, set())
    watch.cordoned("x", 500)
    for t in (1000, 2000, 3000):  # y only rises (creates and joins): no poll seen
        assert (
            watch.look(t, listed(x=("cordoned", 41.0), y=("enabled", 10.0 + t / 1000)), {"x": 120.0}, set())
            == {}
        )
    # a round (y fell) but the poller's figure for x equals its frozen load: nothing to tell
    watch.look(4000, listed(x=("cordoned", 41.0), y=("enabled", 5.0)), {"x": 41.0}, set())
    assert watch.look(5000, listed(x=("cordoned", 41.0), y=("enabled", 5.0)), {"x": 41.0}, set()) == {}
