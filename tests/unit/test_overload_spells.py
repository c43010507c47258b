"""The demo names every spell of overload longer than a few minutes while the fleet had room
(bbbsim.minutes.overload_spells): each spell it names is one, and none is missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bbbsim.minutes import Minute, overload_spells
from bbbsim.replay import Sample

T0 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def samples_of(rows):
    """(overloaded servers, enabled capacity, guard-held capacity, load) a minute -> samples, minutes."""
    samples, minutes = [], []
    for i, (hot, enabled, held, load) in enumerate(rows):
        at = T0 + timedelta(minutes=i)
        samples.append(Sample(at, 0, 0, load, enabled, {}, {}, {}, hot))
        minutes.append(Minute(at, 0.0, held, 0.0))
    return samples, minutes


def with_room(row) -> bool:
    hot, enabled, held, load = row
    return hot > 0 and enabled + held > load


row = st.tuples(st.integers(0, 3), st.sampled_from([0.0, 50.0, 100.0]), st.sampled_from([0.0, 60.0]),
                st.sampled_from([40.0, 90.0, 200.0]))  # fmt: skip


@given(st.lists(row, max_size=60))
def test_every_spell_is_a_long_run_of_overload_with_room_and_none_is_missed(rows):
    samples, minutes = samples_of(rows)
    spells = overload_spells(samples, minutes, longest=5)
    flags = [with_room(r) for r in rows]
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start > 5:
                runs.append((start, i - 1))
            start = None
    assert [(s["from"], s["to"]) for s in spells] == [
        (T0 + timedelta(minutes=a), T0 + timedelta(minutes=b)) for a, b in runs
    ]
    for spell, (a, b) in zip(spells, runs, strict=True):
        assert spell["servers"] == max(rows[i][0] for i in range(a, b + 1))


def test_the_guards_cordons_count_as_room_the_fleet_has():
    # Enabled capacity below the load while the guard holds servers out of placement: still room.
    samples, minutes = samples_of([(1, 50.0, 60.0, 90.0)] * 8)
    (spell,) = overload_spells(samples, minutes)
    assert spell["servers"] == 1 and spell["hottest"] is None
    # Without the guard's share the fleet is full: overload is no surprise, no spell is named.
    samples, minutes = samples_of([(1, 50.0, 0.0, 90.0)] * 8)
    assert overload_spells(samples, minutes) == []


def test_the_demos_hottest_server_past_its_capacity_is_never_said_at_100_percent():
    # 300.4 units on 300 rounded to "at up to 100 % of its capacity" for a server counted overloaded
    from bbbsim.demo import _percent_past

    assert _percent_past(300.4, 300) == 101 and _percent_past(330, 300) == 110
    assert _percent_past(300, 300) == 100 and _percent_past(149.6, 300) == 50
