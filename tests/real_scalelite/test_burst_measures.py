"""The bench's measures (tests/real_scalelite/burst_measures.py) on hand-made samples."""

from __future__ import annotations

import pytest

from tests.real_scalelite.burst_measures import flaps, flaps_by_choice, placeable_stats, rounds


def test_a_flap_is_cordon_enable_cordon_of_one_server_within_three_seconds():
    actions = [
        (0.0, "a", "cordon"),
        (1.0, "a", "enable"),
        (2.5, "a", "cordon"),  # a flap
        (3.0, "b", "cordon"),
        (4.0, "b", "enable"),
        (9.0, "b", "cordon"),  # too slow to be one
        (10.0, "c", "cordon"),
        (10.5, "a", "enable"),
        (10.6, "c", "cordon"),
    ]
    assert flaps(actions) == [(2.5, "a")]


def test_a_flap_by_choice_is_a_decided_enable_between_two_cordons_not_a_repair():
    decisions = [
        (0.0, "a", "cordon"),
        (1.0, "a", "recordon"),  # a repair: enable then cordon in one decision
        (5.0, "a", "enable"),
        (6.0, "a", "cordon"),  # the repaired cordon, an enable, a cordon: 5 s from the repair, no flap
        (10.0, "b", "recordon"),
        (11.0, "b", "enable"),
        (12.0, "b", "cordon"),  # a flap: the repaired cordon given up by choice, then taken again
        (20.0, "c", "cordon"),
        (21.0, "c", "enable"),
        (22.5, "c", "cordon"),  # a flap
    ]
    assert flaps_by_choice(decisions) == [(12.0, "b"), (22.5, "c")]
    # the same as updateServer calls: the repair of a counts as a flap there
    calls = [
        (t, s, st) for t, s, a in decisions for st in (("enable", "cordon") if a == "recordon" else (a,))
    ]
    assert (1.0, "a") in flaps(calls)


def test_placeable_server_seconds_and_the_longest_stretch_of_one_server():
    step = 0.5
    samples = [(0.0, {"a"}), (0.5, {"a", "b"}), (1.0, {"a"}), (1.5, set()), (2.0, {"a"}), (9.0, {"c"})]
    total, longest = placeable_stats(samples, 0.0, 5.0, step)
    assert total == pytest.approx(2.5) and longest == pytest.approx(1.5)
    assert placeable_stats(samples, 5.0, 10.0, step) == (0.5, 0.5)


def test_poll_rounds_are_runs_of_saves_counted_where_they_begin():
    saves = [1.0, 1.2, 1.9, 12.0, 12.5, 23.0, 23.4]  # three rounds of a poller saving ten servers
    assert rounds(saves, 0.0, 30.0, origin=10.0) == [-9.0, 2.0, 13.0]
    # a round that began saving before the window is not one of its rounds, even if it saves within
    assert rounds(saves, 1.5, 20.0, origin=10.0) == [2.0]
    assert rounds(saves, 13.0, 20.0, origin=10.0) == []
    assert rounds([], 0.0, 30.0, origin=0.0) == []
