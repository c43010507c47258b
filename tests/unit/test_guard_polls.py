"""Poll rounds as the guard sees them in getServers, and the cordons a round in flight may have undone
(Scalelite v1.6.1: the round's save puts the server back in the placement set while getServers keeps
reporting it cordoned with its load frozen; a round that read it cordoned updates that load)."""

from __future__ import annotations

import pytest

from chalicelib.domain.load import Meeting
from chalicelib.ports import ScaleliteServer
from chalicelib.service.guard_polls import PollWatch, Round, increments, poller_load, users_of


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


def test_the_fewest_increments_are_a_new_rooms_create_and_joins_and_known_rooms_new_participants():
    assert increments({}, {"a": 1}) == 2  # the create and the teacher's join
    assert increments({"a": 5, "b": 9}, {"a": 8, "b": 4, "c": 0}) == 3 + 0 + 1  # leaves give nothing back
    assert users_of([Meeting("a", participants=4), Meeting("z", participants=9, is_breakout=True)]) == {
        "a": 4
    }


def test_an_enabled_servers_rise_past_its_creates_and_joins_is_a_round_seen():
    """The first class of a day: nothing ended, so no load falls; the poller's save raises a server that
    took young rooms (15 each where the creates and joins counted 2) past what they explain."""
    watch = PollWatch()
    figures = {"x": 120.0, "y": 70.0}
    watch.look(0, listed(x=("enabled", 40.0), y=("enabled", 40.0)), figures, set())
    watch.cordoned("x", 500)
    watch.look(1000, listed(x=("cordoned", 41.0), y=("enabled", 44.0)), figures, {"x"}, {"y": 2.0})
    assert not watch.poll_saving  # y rose by its rooms' creates and joins: no save
    watch.look(2000, listed(x=("cordoned", 41.0), y=("enabled", 70.0)), figures, set(), {"y": 24.0})
    assert watch.poll_saving  # y's save: +26 where its rooms explain 2
    found = watch.look(3000, listed(x=("cordoned", 41.0), y=("enabled", 70.0)), figures, set(), {"y": 0.0})
    assert list(found) == ["x"] and "ran across its cordon" in found["x"]


def test_the_rise_past_creates_and_joins_is_in_users_whatever_the_load_multiplier():
    """`unexplained` comes in users (the load's rise divided by the multiplier, less the +1s)."""
    watch = PollWatch()
    doubled = [ScaleliteServer("y", "https://y/bigbluebutton/api", "s", "enabled", True, 40.0, 2.0)]
    watch.look(0, doubled, {}, set())
    risen = [ScaleliteServer("y", "https://y/bigbluebutton/api", "s", "enabled", True, 60.0, 2.0)]
    watch.look(1000, risen, {}, set(), {"y": 9.0})  # +20 in load: 10 users, 1 explained
    assert watch.poll_saving


def _blind_watch(**others):
    """x cordoned at 0.5 s at a look where `others` (name=(state, load, figure)) were listed beside it."""
    watch = PollWatch()
    listing = {"x": ("enabled", 40.0), **{k: v[:2] for k, v in others.items()}}
    figures = {"x": 120.0, **{k: v[2] for k, v in others.items()}}
    watch.look(0, listed(**listing), figures, set())  # no earlier reading: a first look
    watch.look(100, listed(**listing), figures, set())
    watch.cordoned("x", 500)
    after = {**listing, "x": ("cordoned", 41.0)}
    return watch, after, figures


def test_a_cordon_where_no_round_could_be_seen_is_repaired_once_blind_after_a_rounds_length():
    watch, after, figures = _blind_watch(y=("enabled", 30.0, 30.0))  # y's save would move nothing
    assert watch.look(1000, listed(**after), figures, {"x"}, round_ms=2000) == {}  # a round may still run
    found = watch.look(2600, listed(**after), figures, set(), round_ms=2000)
    assert list(found) == ["x"] and "no other server's poll save would have shown" in found["x"]
    assert "cordoned 2.1 s ago" in found["x"] and "may have undone" in found["x"]
    watch.cordoned("x", 2700, repair=True)  # the guard repaired it: not again
    for t in (3000, 6000, 9000):
        assert watch.look(t, listed(**after), figures, set(), round_ms=2000) == {}


def test_a_cordon_where_a_round_would_have_shown_is_left_to_the_round_watch():
    watch, after, figures = _blind_watch(y=("enabled", 44.0, 30.0))  # y's save would lower its load
    for t in (1000, 2600, 5000):
        assert watch.look(t, listed(**after), figures, {"x"} if t == 1000 else set(), round_ms=2000) == {}
    watch, after, figures = _blind_watch(y=("enabled", 30.0, 45.0))  # or raise it past its rooms' +1s
    assert watch.look(2600, listed(**after), figures, {"x"}, round_ms=2000) == {}


def test_a_cordon_at_a_first_look_or_while_a_round_was_saving_is_repaired_blind():
    watch = PollWatch()
    figures = {"x": 120.0, "y": 30.0}
    watch.look(0, listed(x=("enabled", 40.0), y=("enabled", 44.0)), figures, set())
    watch.cordoned("x", 100)
    found = watch.look(2200, listed(x=("cordoned", 41.0), y=("enabled", 44.0)), figures, {"x"}, round_ms=2000)
    assert "no earlier reading" in found["x"]
    watch = PollWatch()
    watch.look(0, listed(x=("enabled", 40.0), y=("enabled", 44.0)), figures, set())
    watch.look(400, listed(x=("enabled", 40.0), y=("enabled", 30.0)), figures, set())  # y saved: a round
    watch.cordoned("x", 500)
    found = watch.look(2600, listed(x=("cordoned", 41.0), y=("enabled", 30.0)), figures, {"x"}, round_ms=2000)
    assert "a Scalelite poll round was saving servers" in found["x"]


def test_too_late_for_a_blind_repair_the_rooms_read_again_are_the_check():
    watch, after, figures = _blind_watch(y=("enabled", 30.0, 30.0))
    assert watch.look(20_000, listed(**after), figures, {"x"}, round_ms=2000) == {}


def test_a_rounds_length_is_the_servers_over_scalelites_workers_or_the_rounds_seen_if_longer():
    watch = PollWatch()
    assert watch.round_ms(10, 0.3) == pytest.approx((3 * 0.3 + 0.5) * 1000)  # 10 servers, 4 at a time
    assert watch.round_ms(400, 1.0) == (15 + 0.5) * 1000  # never past the poller's cut
    watch.rounds = [Round(0, 800), Round(10_000, 10_700), Round(20_000, 26_000)]
    assert watch.round_ms(10, 0.3) == pytest.approx((3 * 0.3 + 0.5) * 1000)  # seen: 0.8 s, shorter
    watch.rounds = [Round(0, 3000), Round(10_000, 12_800), Round(20_000, 26_000)]
    assert watch.round_ms(10, 0.3) == pytest.approx((3.0 + 0.5) * 1000)


def test_a_round_seen_to_pause_between_two_looks_gives_its_verdict_only_once_it_had_its_length():
    """Saves come in batches (4 servers at a time) and many show nothing: a look between two batches sees
    no save though the round goes on, and a cordon it has not saved yet is still frozen."""
    watch = PollWatch()
    figures = {"x": 120.0, "y": 260.0}
    watch.look(0, listed(x=("enabled", 40.0), y=("cordoned", 200.0)), figures, set(), round_ms=3000)
    watch.look(300, listed(x=("enabled", 40.0), y=("cordoned", 200.0)), figures, set(), round_ms=3000)
    watch.cordoned("x", 400)
    frozen = listed(x=("cordoned", 41.0), y=("cordoned", 230.0))  # y saved: a round is under way
    assert watch.look(700, frozen, figures, {"x"}, round_ms=3000) == {}
    assert watch.look(1000, frozen, figures, set(), round_ms=3000) == {}  # no save seen: "over"?
    assert watch.look(2000, frozen, figures, set(), round_ms=3000) == {}  # not yet its length
    found = watch.look(3400, frozen, figures, set(), round_ms=3000)
    assert list(found) == ["x"] and "ran across its cordon" in found["x"]
    confirmed = PollWatch()  # the same, but the round saves x as cordoned before its length is out
    confirmed.look(0, listed(x=("enabled", 40.0), y=("cordoned", 200.0)), figures, set(), round_ms=3000)
    confirmed.look(300, listed(x=("enabled", 40.0), y=("cordoned", 200.0)), figures, set(), round_ms=3000)
    confirmed.cordoned("x", 400)
    confirmed.look(700, frozen, figures, {"x"}, round_ms=3000)
    confirmed.look(1000, frozen, figures, set(), round_ms=3000)
    saved = listed(x=("cordoned", 120.0), y=("cordoned", 230.0))
    for t in (2000, 3400, 5000):
        assert confirmed.look(t, saved, figures, set(), round_ms=3000) == {}


def test_a_cordon_sent_while_a_round_saved_and_seen_across_it_waits_for_the_verdict_not_a_blind_repair():
    watch = PollWatch()
    figures = {"x": 120.0, "y": 260.0}
    watch.look(0, listed(x=("enabled", 40.0), y=("cordoned", 200.0)), figures, set(), round_ms=3000)
    watch.look(300, listed(x=("enabled", 40.0), y=("cordoned", 210.0)), figures, set(), round_ms=3000)
    assert watch.poll_saving  # y's save: a round under way at the cordon
    watch.cordoned("x", 400)
    quiet = listed(x=("cordoned", 41.0), y=("cordoned", 210.0))
    assert watch.look(700, quiet, figures, {"x"}, round_ms=3000) == {}
    saved = listed(x=("cordoned", 41.0), y=("cordoned", 230.0))  # another round from 700 on, across it
    assert watch.look(1000, saved, figures, set(), round_ms=3000) == {}
    assert watch.look(1300, saved, figures, set(), round_ms=3000) == {}
    assert watch.look(3500, saved, figures, set(), round_ms=3000) == {}  # blind time, but a round was seen
    found = watch.look(3700, saved, figures, set(), round_ms=3000)  # and it had its length
    assert list(found) == ["x"] and "ran across its cordon" in found["x"]
