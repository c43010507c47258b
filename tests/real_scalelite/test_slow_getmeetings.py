"""A Scalelite getMeetings that outlasts the tick's read timeout: the same script on the simulator's
Scalelite model (always) and on the real Scalelite (when BBBSCALE_SCALELITE_CHECKOUT names a checkout).

Scalelite's getMeetings asks its servers one after another (v1.6.1 get_meetings, docs/scalelite-and-
bbb.md): four BBB servers answering in 0.3 s each make a 1.2-s answer, here past a 0.5-s read timeout
(the same as 250 servers against the 20-s default). The tick must read each server's own getMeetings
instead (the load Scalelite would have given), and for the next ticks go to the servers first, without
waiting for Scalelite's getMeetings again, until `scalelite.meetings_direct_minutes` have passed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.config import ScaleliteSettings
from chalicelib.domain.fleet import VM
from chalicelib.service.forecasting import NoForecast
from tests.real_scalelite.backends import GETMEETINGS_S
from tests.support.builders import settings
from tests.support.fakes import Clock, FakeProvider

CLUSTER = "t"
NAMES = "abcd"
READ_TIMEOUT_S = 0.5  # below the fan-out's 4 x 0.3 s, above one server's 0.3 s


class CountingClient(ScaleliteClient):
    """The tick's own Scalelite client, counting the getMeetings it sends (the servers cannot tell
    Scalelite's API getMeetings from its poller's by what they are asked)."""

    sent = 0

    def meetings(self):
        CountingClient.sent += 1
        return super().meetings()


def test_a_slow_getmeetings_is_read_from_the_servers_then_skipped_for_a_while(backend):
    if backend.kind == "model":  # the real one takes this time by itself
        backend.scalelite.meetings_s_per_server = GETMEETINGS_S
    for i, name in enumerate(NAMES):
        backend.add_server(name)
        backend.seed_meeting(name, f"class-{name}", 10 + i, 1)
    backend.poll_round()
    patient = ScaleliteClient(ScaleliteSettings(url=backend.url, read_timeout=30, retries=0), backend.secret)
    started = time.monotonic()
    assert len(patient.meetings().meetings) == len(NAMES)
    fan_out = time.monotonic() - started
    assert fan_out >= 0.9 * len(NAMES) * GETMEETINGS_S, f"one server after another: {fan_out:.2f} s"
    clock = Clock(datetime.now(UTC))
    provider = FakeProvider("cheap", clock, cluster=CLUSTER)
    for name in NAMES:
        tags = {"bbbscale:cluster": CLUSTER, "bbbscale:provider": "cheap"}
        provider.vms[f"id-{name}"] = VM(
            "cheap", f"id-{name}", f"bbbscale-{CLUSTER}-cheap-{name}", "running", backend.server_url(name),
            None, clock(), tags,
        )  # fmt: skip
    scalelite = ScaleliteSettings(url=backend.url, read_timeout=READ_TIMEOUT_S, retries=0)
    cfg = settings(
        headroom={"percent": 0, "units": 1200},  # four servers wanted: nothing is surplus
        forecast={"enabled": False},
        guard={"enabled": False},
        scalelite=scalelite.model_dump(),
        providers={"cheap": {"kind": "simulated", "max_servers": 4, "quota": 4, "capacity_units": 300}},
    )
    secrets = {backend.server_url(name): f"secret-of-{name}-0123456789" for name in NAMES}
    CountingClient.sent = 0
    wiring = Wiring(
        cfg,
        store=MemoryStateStore(cluster=CLUSTER),
        scalelite=CountingClient(scalelite, backend.secret),
        providers={"cheap": provider},
        bbb_factory=lambda url, secret, name: BbbApi(url, secrets[url], retries=0, server_name=name),
        clock=clock,
        secret=lambda name: None,
        forecaster=NoForecast(),
    )

    first = wiring.tick(now=clock.now)
    assert CountingClient.sent == 1
    assert first.load is not None and first.load.complete
    assert first.load.totals.participants == sum(10 + i for i in range(len(NAMES)))
    timed_out, instead = first.problems[:2]
    assert "getMeetings failed" in timed_out and f"no byte for {READ_TIMEOUT_S:g} s" in timed_out
    assert instead == "the load is read from each server's own getMeetings instead"

    clock.advance(minutes=1)
    started = time.monotonic()
    second = wiring.tick(now=clock.now)
    took = time.monotonic() - started
    assert CountingClient.sent == 1, "Scalelite's getMeetings not asked again within the window"
    assert second.load is not None and second.load.totals == first.load.totals
    until = first.at + timedelta(minutes=30)
    assert second.problems[0].startswith(
        f"the load is read from each server's own getMeetings until {until:%H:%M} UTC: Scalelite's "
        f"getMeetings timed out at {first.at:%H:%M} UTC"
    )
    assert took < len(NAMES) * GETMEETINGS_S, f"the servers asked in parallel ({took:.2f} s)"

    clock.advance(minutes=30)
    wiring.tick(now=clock.now)  # the window over: Scalelite asked again (and still too slow)
    assert CountingClient.sent == 2
