"""The burst guard and Scalelite's poll rounds at the first class of a day (issue 19 item 1): nothing has
ended, so no reported load falls, and the server the guard cordons is the only one that took rooms. A
round in flight at the cordon saves every other server unchanged: the guard cannot see it, yet it undid
the cordon (the server stays in `server_load`, reported cordoned). On the real bench such a cordon stayed
placeable 5.0 s, found only by the rooms that landed on it. The guard now repairs a cordon sent where
no round could have been seen once a round in flight then would have ended (a round of 4 servers here:
one read of each, ~0.3 s on the real bench, so ~1 s). Each script runs against the simulator's Scalelite
model (always) and the real Scalelite (BBBSCALE_SCALELITE_CHECKOUT), the guard over HTTP
(tests/real_scalelite/guarded.py)."""

from __future__ import annotations

import time

from tests.real_scalelite.guarded import Guarded


def test_a_cordon_a_round_undid_unseen_at_the_first_class_is_repaired_before_rooms_land(backend):
    for name, users in {"a": 30, "b": 30, "c": 30, "d": 5}.items():
        backend.add_server(name)
        backend.seed_meeting(name, f"old-{name}", users, 0)
    backend.poll_round()
    guarded = Guarded(backend)
    guarded.look()  # the morning before the bell
    for n in range(12):  # the first class: every room goes to d, the lowest
        assert backend.create(f"lesson-{n}") == "d"
        assert backend.join(f"lesson-{n}", moderator=True)
    guarded.across_a_round()
    guarded.look()
    assert guarded.sent == [("d", "cordon")], (guarded.sent, guarded.history())
    undone = time.monotonic()
    assert backend.reported("d").state == "cordoned" and "d" in backend.placeable()  # the silent undo
    guarded.look()  # at once: a round in flight at the cordon could still be saving
    assert guarded.sent == [("d", "cordon")], (guarded.sent, guarded.history())
    time.sleep(1.0)
    guarded.look()
    assert guarded.sent == [("d", "cordon"), ("d", "enable"), ("d", "cordon")], guarded.history()
    assert time.monotonic() - undone <= 3.0
    repairs = [line for line in guarded.history() if line.startswith("guard: recordon")]
    assert len(repairs) == 1 and "no other server's poll save would have shown" in repairs[0], repairs
    assert backend.reported("d").state == "cordoned" and "d" not in backend.placeable()
    assert backend.create("lesson-late") != "d"
    time.sleep(1.0)
    guarded.look()  # repaired once: not again
    assert guarded.sent[-1] == ("d", "cordon") and len(guarded.sent) == 3, guarded.sent
