"""The burst guard and an operator on one fleet: a server the operator disabled through Scalelite's API stays
disabled, and the guard never enables a server whose state it did not set (issue 19). Each script runs
against the simulator's Scalelite model (always) and the real Scalelite (BBBSCALE_SCALELITE_CHECKOUT),
with bbbscale's own BurstGuard over HTTP (tests/real_scalelite/guarded.py).

The race it failed on: a look reads getServers, then each server's rooms (0.3 s each here, as on the
real bench), then acts. An operator's disable sent meanwhile was overwritten: the guard's enable ("has
room again") or its repair (enable then cordon) replaced `disabled`, since Scalelite's updateServer sets
the state whatever it was. The guard now reads the states again just before acting and leaves a server
changed since as it is.
"""

from __future__ import annotations

import time

from tests.real_scalelite.guarded import Guarded


def _herded(backend) -> tuple[Guarded, list[str]]:
    """Four servers, `d` the lowest; a burst of rooms lands on `d` (the placement between two polls)
    and the guard cordons it. Returns the guard and the burst's rooms."""
    # d takes every room (+1 per create and per teacher's join: 5 -> 29, still below 30), and its
    # frozen load ends near the others': enabled again, it would not draw the next burst at once
    loads = {"a": 30, "b": 30, "c": 30, "d": 5}
    for name, users in loads.items():
        backend.add_server(name)
        backend.seed_meeting(name, f"old-{name}", users, 0)
    backend.poll_round()
    guarded = Guarded(backend)
    guarded.look()  # the fleet before the burst
    rooms = [f"lesson-{n}" for n in range(12)]
    with backend.polls_held():  # between two polls however slow the calls (a round would count the
        for room in rooms:  # young rooms at 15 users each: d past the others, and the next room to a)
            assert backend.create(room) == "d"
            assert backend.join(room, moderator=True)
        guarded.look()
    assert ("d", "cordon") in guarded.sent, (guarded.sent, guarded.history())
    return guarded, rooms


def _end(backend, rooms: list[str]) -> None:
    """The class is over; the guard reads a held server's rooms again at its next look."""
    for room in rooms:
        backend.end(room)
    time.sleep(0.6)  # cordoned_read_seconds


def test_the_guard_enables_its_own_cordon_once_the_rooms_are_gone(backend):
    guarded, rooms = _herded(backend)
    _end(backend, rooms)
    guarded.look()
    assert guarded.sent[-1] == ("d", "enable"), (guarded.sent, guarded.history())
    assert backend.reported("d").state == "enabled"


def test_an_operators_disable_sent_while_a_look_is_under_way_survives_the_guards_enable(backend):
    guarded, rooms = _herded(backend)
    _end(backend, rooms)  # the guard would enable `d` again at its next look ...
    guarded.between(lambda: backend.set_state("d", "disable"))  # ... the operator disables it meanwhile
    guarded.look()
    for _ in range(3):  # and later looks leave it alone
        guarded.look()
    assert backend.reported("d").state == "disabled", (guarded.sent, guarded.history())
    assert guarded.sent[-1] == ("d", "cordon"), guarded.sent  # nothing sent since its own cordon
    assert "d" not in backend.placeable()


def test_an_operators_disable_of_a_guard_cordoned_server_survives_the_looks(backend):
    guarded, rooms = _herded(backend)
    backend.set_state("d", "disable")
    guarded.look()
    _end(backend, rooms)
    backend.poll_round()
    for _ in range(3):
        guarded.look()
    assert backend.reported("d").state == "disabled"
    assert guarded.sent[-1] == ("d", "cordon"), guarded.sent
    assert any("by someone else" in line for line in guarded.history()), guarded.history()
