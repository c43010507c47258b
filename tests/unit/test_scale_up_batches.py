"""A scale-up longer than a tick's time (service/creation.py): the start is sent in batches of the
provider's concurrency; past `lifecycle.create_budget_seconds` no new batch is sent, the servers not
asked for get no record, and the next tick starts the rest: every server is asked for once, and the
records and the action's reason say what was done."""

from collections import Counter

import pytest

from chalicelib.domain.kinds import Outcome
from chalicelib.service import creation
from tests.support.builders import T0
from tests.unit.test_tick_service import World


class Seconds:
    """The process's clock the budget is measured on (the slow provider moves it on)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def seconds(monkeypatch):
    clock = Seconds()
    monkeypatch.setattr(creation, "SECONDS", clock)
    return clock


def slow_world(seconds, per_batch: float, concurrency: int = 5, count: int = 50, budget: float = 120.0):
    """`count` servers wanted at once (headroom on no load), the provider creating `concurrency` at a
    time, each batch taking `per_batch` seconds of the process's time."""
    w = World(
        headroom={"percent": 0, "units": 300 * count},
        lifecycle={"stabilization_minutes": 10, "create_budget_seconds": budget},
    )
    cheap = w.settings.providers["cheap"].model_copy(
        update={
            "max_servers": count,
            "quota": count,
            "max_surge": count,
            "options": {"concurrency": concurrency},
        }
    )
    w.reconfigure(w.settings.model_copy(update={"providers": {**w.settings.providers, "cheap": cheap}}))
    provider = w.providers["cheap"] = w.rt.providers["cheap"]
    create = provider.create

    def slow_create(specs):
        seconds.now += per_batch
        return create(specs)

    provider.create = slow_create
    return w, provider


def creates(provider) -> list[list[str]]:
    return [names for what, names in provider.asked if what == "create"]


def test_a_scale_up_past_the_budget_resumes_next_tick_without_asking_twice(seconds):
    w, provider = slow_world(seconds, per_batch=30.0)
    first = w.tick()
    (start,) = [a for a in first["actions"] if a["action"] == "start"]
    # batches at 0, 30, 60 and 90 s (each within 120 s once the longest, 30 s, is added); not at 120 s
    assert [len(batch) for batch in creates(provider)] == [5, 5, 5, 5]
    assert w.last.actions[0].outcome is Outcome.PARTIAL
    assert start["result"].startswith("partial: 20 created, 30 left for the next tick")
    assert "120 s budget" in start["result"]
    assert Counter(state for _, state in w.states()) == {"booting": 20}  # no record for what was not sent

    second = w.tick()
    assert [a["count"] for a in second["actions"] if a["action"] == "start"] == [30]
    asked = [name for batch in creates(provider) for name in batch]
    assert len(asked) == 40 and len(set(asked)) == 40  # 20 more this tick, none asked twice

    w.tick()
    w.tick()
    asked = [name for batch in creates(provider) for name in batch]
    assert len(asked) == len(set(asked)) == 50 == len(w.states())
    assert not [a for a in w.tick()["actions"] if a["action"] == "start"]  # all 50 asked for: nothing more


def test_a_batch_that_fits_is_one_tick_and_the_first_batch_always_goes(seconds):
    w, provider = slow_world(seconds, per_batch=1.0, count=12, concurrency=5)
    w.tick()
    assert [len(batch) for batch in creates(provider)] == [5, 5, 2]
    assert w.last.actions[0].outcome is Outcome.DONE
    w, provider = slow_world(seconds, per_batch=500.0, count=12, concurrency=5)
    w.tick()  # one batch longer than the whole budget: sent, and the rest waits
    assert [len(batch) for batch in creates(provider)] == [5]
    assert "7 left for the next tick" in w.last.actions[0].detail


def test_the_default_batch_is_the_adapters_concurrency():
    from chalicelib.adapters.providers.base import HostedOptions

    assert creation.DEFAULT_BATCH == HostedOptions.model_fields["concurrency"].default
    assert T0  # the builders' clock, as the other tick tests


def test_a_tick_that_loses_its_lease_between_batches_sends_no_more(seconds):
    # A tick paused after its first batch (SIGSTOP, a frozen VM) past its lease; another tick took over
    # and started what it found missing. Resumed, the first sent its next batch all the same: one
    # decision carried out twice, 29 VMs for a need of 21.
    w, provider = slow_world(seconds, per_batch=5.0)
    w.rt.lease_heartbeat = 0  # paused: no renewal
    create = provider.create

    def create_then_pause(specs):
        vms = create(specs)
        if len(creates(provider)) == 1:
            w.clock.advance(seconds=120)  # the process stalls past its lease
            assert w.store.lease.acquire("tick-other", w.clock.now, 60)
        return vms

    provider.create = create_then_pause
    report = w.tick()
    assert [len(batch) for batch in creates(provider)] == [5], "sent a batch after losing the lease"
    (start,) = [a for a in report["actions"] if a["action"] == "start"]
    assert start["result"].startswith("partial: 5 created, lease lost (another tick took over) after 5 of 50")
    assert Counter(state for _, state in w.states()) == {"booting": 5}  # no intent written after it


def test_a_lease_lost_between_an_intent_and_its_create_sends_nothing(seconds):
    # the narrowest edge: the batch's intents are written, then the lease is gone before the create
    w, provider = slow_world(seconds, per_batch=5.0)
    w.rt.lease_heartbeat = 0
    written = w.store.servers.save

    def save_then_pause(record):
        answer = written(record)
        if record.state.value == "requested" and record.name.endswith("-6"):  # the second batch's first
            w.clock.advance(seconds=120)
            assert w.store.lease.acquire("tick-other", w.clock.now, 60)
        return answer

    w.store.servers.save = save_then_pause
    report = w.tick()
    assert [len(batch) for batch in creates(provider)] == [5]
    (start,) = [a for a in report["actions"] if a["action"] == "start"]
    assert "5 unconfirmed (reconciled next tick)" in start["result"] and "lease lost" in start["result"]


def test_a_power_start_taken_over_midway_powers_on_no_more():
    # the same edge for a `power` pool: its start powers on stopped VMs one by one
    from chalicelib.domain.fleet import VM
    from tests.support.builders import T0 as START

    w = World(headroom={"percent": 0, "units": 300 * 4}, lifecycle={"stabilization_minutes": 10})
    cheap = w.settings.providers["cheap"].model_copy(update={"mode": "power"})
    w.reconfigure(w.settings.model_copy(update={"providers": {**w.settings.providers, "cheap": cheap}}))
    w.rt.lease_heartbeat = 0
    provider = w.providers["cheap"]
    for n in range(1, 5):
        name = f"bbbscale-t-cheap-{n}"
        provider.vms[f"id-{name}"] = VM(
            "cheap", f"id-{name}", name, "stopped", f"http://{name}/bigbluebutton/api", None, START
        )
    start = provider.start

    def start_then_pause(vm_id):
        vm = start(vm_id)
        w.clock.advance(seconds=120)  # stalled past its lease after the first VM; another tick took over
        assert w.store.lease.acquire("tick-other", w.clock.now, 60)
        return vm

    provider.start = start_then_pause
    report = w.tick()
    assert [what for what, _ in provider.asked if what == "start"] == ["start"], "powered on after losing it"
    (power,) = [a for a in report["actions"] if a["action"] == "start"]
    assert "1 started, then the lease was lost" in power["result"]
