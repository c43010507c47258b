"""Every implementation of the Provider port, behind one `Cloud` handle, for the provider contract.

A `Cloud` opens providers for a cluster (`provider("demo")`, `provider("other")` on the same account)
and finishes boots (`boot()`): a real provider's VM leaves `pending` on its own time, so each one says
how its fake gets there — the loopback API marks its VMs running, the simulated cloud's clock moves past
the boot delay, the test fake's `boot()`. The real adapters speak real HTTP to their loopback fakes
(tests/provider_fakes/) and, for EC2, to moto's server; nothing is patched.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.config import ProviderSettings
from chalicelib.ports import Provider, ProviderContext

#: The implementations whose lifecycle the contract drives (the static pool has its own, smaller one).
LIFECYCLE = ["ec2", "openstack", "cloudstack", "outscale", "scaleway", "simulated", "faulty", "fake"]


@dataclass
class Cloud:
    """One account of one implementation: `provider(cluster)` opens the port on it, `boot()` lets every
    pending VM finish booting."""

    name: str
    provider: Callable[[str], Provider]
    boot: Callable[[], None]


def _made_by(module_name: str, *args) -> Callable[[str], Provider]:
    """The adapter exactly as its own integration tests build it (tests/integration/test_provider_*.py
    `make`), for a given cluster: one set of options per provider, not a second copy here."""
    import importlib

    make = importlib.import_module(f"tests.integration.test_provider_{module_name}").make
    return lambda cluster: make(*args, cluster=cluster)


@contextmanager
def openstack() -> Iterator[Cloud]:
    from tests.provider_fakes.openstack import FakeOpenStack

    with FakeOpenStack() as fake:

        def boot():
            for server in fake.servers.values():
                if server["status"] == "BUILD":
                    server["status"] = "ACTIVE"

        yield Cloud("ovh", _made_by("openstack", fake), boot)


@contextmanager
def cloudstack() -> Iterator[Cloud]:
    from tests.provider_fakes.cloudstack import FakeCloudStack

    with FakeCloudStack() as fake:
        yield Cloud("ikoula", _made_by("cloudstack", fake), lambda: None)


@contextmanager
def outscale() -> Iterator[Cloud]:
    from tests.provider_fakes.outscale import FakeOutscale

    with FakeOutscale() as fake:

        def boot():
            for vm in fake.vms.values():
                if vm["State"] == "pending":
                    vm["State"] = "running"

        yield Cloud("osc", _made_by("outscale", fake), boot)


@contextmanager
def scaleway() -> Iterator[Cloud]:
    from tests.provider_fakes.scaleway import FakeScaleway

    with FakeScaleway(token="scw-secret") as fake:
        yield Cloud("scw", _made_by("scaleway", fake), lambda: None)


@contextmanager
def ec2(endpoint: str) -> Iterator[Cloud]:
    yield Cloud("aws", _made_by("ec2", endpoint), lambda: None)


class _Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def simulated(calm_faults: bool = False) -> Iterator[Cloud]:
    """The simulated cloud; with `calm_faults`, seen through the fault suite's wrapper (tests/support/
    faults.py) with no fault drawn, which must change nothing."""
    from bbbsim.cloud import SimulatedCloud
    from bbbsim.world import SimWorld
    from tests.support.faults import Faults, FaultyProvider, Ledger

    world, clock = SimWorld(random.Random(7)), _Clock(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    config = ProviderSettings(kind="simulated", boot_minutes=5, quota=50)

    def provider(cluster: str) -> Provider:
        where = ProviderContext(cluster=cluster, now=clock, secret=lambda key: None)
        cloud = SimulatedCloud("gandi", config, {}, where, world)
        return FaultyProvider(cloud, Faults(random.Random(1)), Ledger(), world) if calm_faults else cloud

    def boot():
        clock.now += timedelta(minutes=5)
        world.advance(clock.now)

    yield Cloud("gandi", provider, boot)


@contextmanager
def fake() -> Iterator[Cloud]:
    """The hand-written fake of tests/support/fakes.py: one account shared by every cluster."""
    from tests.support.fakes import FakeProvider

    clock = _Clock(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    account: dict = {}

    def provider(cluster: str) -> Provider:
        opened = FakeProvider("dear", clock, cluster=cluster)
        opened.vms = account  # one account behind every handle, as with a real API
        return opened

    def boot():
        provider("any").boot()

    yield Cloud("dear", provider, boot)


OPENERS = {
    "openstack": openstack,
    "cloudstack": cloudstack,
    "outscale": outscale,
    "scaleway": scaleway,
    "simulated": simulated,
    "faulty": lambda: simulated(calm_faults=True),
    "fake": fake,
}
