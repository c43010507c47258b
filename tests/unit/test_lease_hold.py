"""The tick lease (issue 14): short, kept alive by a heartbeat while a tick works, lost -> no more acts."""

from __future__ import annotations

import time
from datetime import timedelta

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.domain.kinds import Outcome
from chalicelib.service.lease import LeaseHold, new_owner
from tests.support.builders import T0
from tests.unit.test_tick_service import World


def test_a_killed_holder_blocks_scaling_for_at_most_a_minute():
    w = World(headroom={"percent": 0, "units": 600})
    killed_at = w.clock.now
    # A tick killed right after taking the lease: nobody releases it, nobody renews it.
    assert w.store.lease.acquire("tick-killed", killed_at, w.settings.lifecycle.lease_seconds)
    w.clock.advance(seconds=61)
    r = w.rt.tick(now=w.clock.now)
    assert [a.action.action for a in r.actions] == ["start"], r.actions
    assert w.providers["cheap"].asked[-1][0] == "create"


class SlowCreate:
    """A create that takes (simulated) minutes: the clock moves while real time passes, and another
    process tries to take the lease half-way."""

    def __init__(self, w: World, minutes: float):
        self.w, self.minutes, self.taken_by_other = w, minutes, []
        self.inner = w.providers["cheap"].create
        w.providers["cheap"].create = self

    def __call__(self, specs):
        for _ in range(int(self.minutes * 2)):
            self.w.clock.advance(seconds=30)
            time.sleep(0.05)  # the heartbeat (every 0.01 s here) renews on the moved clock
            self.taken_by_other.append(self.w.store.lease.acquire("tick-other", self.w.clock.now, 60))
        return self.inner(specs)


def test_the_heartbeat_keeps_the_lease_through_a_long_provider_call():
    w = World(headroom={"percent": 0, "units": 600})
    w.rt.lease_heartbeat = 0.01
    slow = SlowCreate(w, minutes=7)  # longer than any lease
    r = w.tick()
    assert not any(slow.taken_by_other), "another process took the lease while the tick was acting"
    assert r["actions"][0]["result"] == "done"
    assert w.store.lease.acquire("tick-next", w.clock.now, 60), "released at the end"


def test_a_tick_that_lost_its_lease_acts_no_more():
    w = World(headroom={"percent": 0, "units": 600})
    w.rt.lease_heartbeat = 0  # paused: no renewal
    w.tick()
    w.boot_all()
    add = w.scalelite.add

    def add_then_pause(*args):
        answer = add(*args)
        w.clock.advance(seconds=120)  # the process stalls past its lease; another tick takes over
        assert w.store.lease.acquire("tick-other", w.clock.now, 60)
        return answer

    w.scalelite.add = add_then_pause
    r = w.tick()
    assert [c[0] for c in w.scalelite.asked] == ["add"], "acted after losing the lease"
    results = [a["result"] for a in r["actions"]]
    assert results[0] == "done" and all(x.startswith("skipped: lease lost") for x in results[1:])
    assert [a.outcome for a in w.last.actions] == [Outcome.DONE] + [Outcome.SKIPPED] * 3


def test_the_heartbeat_stops_renewing_once_the_lease_was_taken_over():
    store = MemoryStateStore()
    now = [T0]
    hold = LeaseHold(store.lease, new_owner(), lambda: now[0], 60, heartbeat=0.01)
    assert hold.take(T0)
    now[0] = T0 + timedelta(seconds=61)  # lapsed before the heartbeat ran
    assert store.lease.acquire("tick-other", now[0], 60)
    time.sleep(0.05)
    assert not hold.holds()
    now[0] = T0 + timedelta(seconds=200)  # even once the other's lease lapsed: lost stays lost
    assert not hold.holds()
    hold.release()
    assert not store.lease.acquire("tick-third", T0 + timedelta(seconds=62), 60), "other's lease kept"


def test_the_owner_names_the_process():
    import os

    assert f"-{os.getpid()}-" in new_owner()
