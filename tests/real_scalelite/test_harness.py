"""The harness itself: the real Scalelite comes up, answers with its own shapes, and stops everything."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.real_scalelite.harness import CHECKOUT_VAR, RealScalelite, unavailable


def test_unavailable_names_the_variable_when_unset(monkeypatch):
    monkeypatch.delenv(CHECKOUT_VAR, raising=False)
    assert CHECKOUT_VAR in (unavailable() or "")


def test_unavailable_refuses_a_directory_that_is_not_scalelite(monkeypatch, tmp_path):
    monkeypatch.setenv(CHECKOUT_VAR, str(tmp_path))
    assert "not a Scalelite checkout" in (unavailable() or "")


def test_a_real_scalelite_starts_answers_and_stops_every_process():
    reason = unavailable()
    if reason:
        pytest.skip(f"real Scalelite: {reason}")
    scalelite = RealScalelite(os.environ[CHECKOUT_VAR], poll_interval_s=60)
    with scalelite:
        root = scalelite.root
        pids = [p.pid for p in scalelite._procs.values()]
        assert scalelite.redis("PING") == "PONG"
        assert scalelite.placement() == {}
        import requests

        assert b"<returncode>SUCCESS</returncode>" in requests.get(scalelite.url, timeout=5).content
    assert root is not None and not root.exists()
    for pid in pids:
        assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


def test_the_simulated_bbb_servers_hold_getmeetings_answers_while_told_and_no_longer():
    """What `polls_held` and `during_round` stand on: a poll round's getMeetings is asked at once but
    answered only when the hold ends (or at its longest), so a round saves nothing meanwhile."""
    import threading
    import time
    from datetime import UTC, datetime

    import requests

    from bbbsim.bbb_http import SimBbbServers
    from bbbsim.world import SimWorld
    from chalicelib.adapters.scalelite.checksum import signed_query

    secret = "secret-of-a-0123456789"
    world = SimWorld()
    world.add_bbb_server("a", secret, 100.0, datetime.now(UTC))
    with SimBbbServers(world) as bbb:
        url = f"{bbb.url('a')}/getMeetings?{signed_query('getMeetings', {}, secret, 'sha1')}"
        answered: list[float] = []

        def ask() -> None:
            assert b"SUCCESS" in requests.get(url, timeout=10).content
            answered.append(time.monotonic())

        with bbb.answers_held(longest_s=5.0):
            asker = threading.Thread(target=ask)
            asker.start()
            deadline = time.monotonic() + 5
            while not bbb.asked_since(0.0) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert bbb.asked_since(0.0) and not bbb.answered_since(0.0)  # asked, held
            time.sleep(0.3)
            assert not answered
            released = time.monotonic()
        asker.join(timeout=5)
        assert answered and answered[0] >= released
        ask()  # no hold: answered at once
        with bbb.answers_held(longest_s=0.2):  # a hold never outlasts its longest
            started = time.monotonic()
            ask()
            assert 0.15 <= answered[-1] - started < 3
        rounds = len(bbb.asked)
        bbb.rounds_from = lambda port: False  # a caller that is not the poller (Scalelite's own API)
        with bbb.answers_held(longest_s=5.0):
            started = time.monotonic()
            ask()  # answered at once, and not taken for a round's
            assert answered[-1] - started < 2 and len(bbb.asked) == rounds


def test_the_servers_a_poll_round_saved_are_read_from_the_pollers_log(tmp_path):
    """`saved_since` reads the line v1.6.1's lib/tasks/poll.rake logs in its `ensure`, after
    `server.save!`: `Server id=#{server.id} #{online ? 'online' : 'offline'} load: #{load or
    'unavailable'}`, as Rails' logger prints it to the poller's stdout; only what came after the offset."""
    scalelite = RealScalelite("/nowhere")
    scalelite.root = tmp_path
    assert scalelite.poller_log_size() == 0 and scalelite.saved_since(0) == set()
    log = tmp_path / "poller.log"
    log.write_text("I, [2026-12-06T17:40:01.000 #12]  INFO -- : Server id=old-1 online load: 30.0\n")
    mark = scalelite.poller_log_size()
    with log.open("a") as more:
        # asked, not saved yet
        more.write("D, [2026-12-06T17:40:11.120 #12] DEBUG -- : Polling Server id=new-1\n")
        more.write("I, [2026-12-06T17:40:11.530 #12]  INFO -- : Server id=new-1 online load: 45.0\n")
        more.write("I, [2026-12-06T17:40:11.540 #12]  INFO -- : Server id=new-2 offline load: unavailable\n")
    assert scalelite.saved_since(mark) == {"new-1", "new-2"}
    assert scalelite.saved_since(0) == {"old-1", "new-1", "new-2"}
