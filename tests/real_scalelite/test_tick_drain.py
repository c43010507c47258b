"""The tick's drain cordon against Scalelite's poller, tick to tick: the same script on the simulator's
Scalelite model (always) and on the real Scalelite (when BBBSCALE_SCALELITE_CHECKOUT names a checkout).

A whole tick runs here (observe, decide, act; the real Scalelite client over HTTP, the BBB servers'
own getMeetings over HTTP), not its parts: two hired VMs are adopted by it from a provider that lists
them, an operator asks to drain one, and the tick that cordons it does so while a poll round is in
flight. The round silently undoes the cordon (test_scenarios.py shows how), a room lands on the
server Scalelite still reports cordoned, and the next tick must see it (the room's createTime on the
server itself, after the drain began) and send enable then cordon (`recordon`), after which no room
lands there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.domain.fleet import VM
from chalicelib.domain.fleet import ServerState as S
from chalicelib.domain.overrides import DRAIN
from chalicelib.service.forecasting import NoForecast
from tests.support.builders import settings
from tests.support.fakes import Clock, FakeProvider

CLUSTER = "t"


def _fleet_of(backend, names: str, clock: Clock) -> tuple[Wiring, MemoryStateStore]:
    """A tick's wiring for two hired VMs that serve as the backend's BBB servers `names`."""
    provider = FakeProvider("cheap", clock, cluster=CLUSTER)
    for name in names:
        vm_name = f"bbbscale-{CLUSTER}-cheap-{name}"
        tags = {"bbbscale:cluster": CLUSTER, "bbbscale:provider": "cheap"}
        provider.vms[f"id-{name}"] = VM(
            "cheap", f"id-{name}", vm_name, "running", backend.server_url(name), None, clock(), tags
        )
    secrets = {backend.server_url(name): f"secret-of-{name}-0123456789" for name in names}
    cfg = settings(
        headroom={"percent": 0, "units": 600},  # two servers wanted: nothing is surplus but the drain
        forecast={"enabled": False},
        guard={"enabled": False},
        providers={"cheap": {"kind": "simulated", "max_servers": 2, "quota": 2, "capacity_units": 300}},
    )
    store = MemoryStateStore(cluster=CLUSTER)
    wiring = Wiring(
        cfg,
        store=store,
        scalelite=backend.client,
        providers={"cheap": provider},
        bbb_factory=lambda url, secret, name: BbbApi(url, secrets[url], retries=0, server_name=name),
        clock=clock,
        secret=lambda name: None,
        forecaster=NoForecast(),
    )
    return wiring, store


def test_a_tick_repairs_its_drain_cordon_that_a_poll_round_silently_undid(backend):
    for name, users in (("a", 2), ("b", 30)):
        backend.add_server(name)
        backend.seed_meeting(name, f"old-{name}", users, 0)
    backend.poll_round()
    clock = Clock(datetime.now(UTC) - timedelta(minutes=3))  # the drain dated 3 min ago: past the grace
    wiring, store = _fleet_of(backend, "ab", clock)
    wiring.tick(now=clock.now)  # adopts both VMs and their registrations
    states = {s.name[-1]: s.state for s in store.servers.servers()}
    assert states == {"a": S.SERVING, "b": S.SERVING}

    store.settings.put(
        DRAIN, {f"bbbscale-{CLUSTER}-cheap-a": {"by": "operator", "at": clock.now.isoformat()}}
    )
    clock.advance(seconds=10)
    backend.poll_round()  # the last round before the class's first room (the real poller never waits)
    assert backend.create("room-1") == "a"  # a: 3 in the placement set; the next round computes 17
    drained = backend.during_round(lambda: wiring.tick(now=clock.now))  # cordon sent mid-round
    assert [(a.action.action, a.action.server[-1:]) for a in drained.actions if a.action.server] == [
        ("cordon", "a")
    ]
    with backend.polls_held():  # until the next poll
        assert backend.reported("a").state == "cordoned"
        assert "a" in backend.placeable()  # ... and yet placeable: the round put it back
        assert backend.create("room-2") == "a"

        clock.now = datetime.now(UTC)
        repaired = wiring.tick(now=clock.now)
        (recordon,) = [a for a in repaired.actions if a.action.action == "recordon"]
        assert recordon.action.server.endswith("-a") and recordon.outcome.value == "done"
        assert "took a new room 3 min after it was cordoned for its drain" in recordon.action.reason
        assert backend.placeable() == {"b": 30.0}  # out of placement now
        assert backend.create("room-3") == "b"
        assert backend.reported("a").state == "cordoned"

        clock.advance(seconds=30)
        again = wiring.tick(now=clock.now)  # the drain dated anew: no second repair for the same room
        assert not [a for a in again.actions if a.action.action == "recordon"]
    assert {s.name[-1]: s.state for s in store.servers.servers()}["a"] == S.DRAINING
