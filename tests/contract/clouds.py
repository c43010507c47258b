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
from tests.provider_fakes.context import context, settings

#: The implementations whose lifecycle the contract drives (the static pool has its own, smaller one).
LIFECYCLE = ["ec2", "openstack", "cloudstack", "outscale", "scaleway", "simulated", "faulty", "fake"]


@dataclass
class Cloud:
    """One account of one implementation: `provider(cluster)` opens the port on it, `boot()` lets every
    pending VM finish booting."""

    name: str
    provider: Callable[[str], Provider]
    boot: Callable[[], None]


def _adapter(cls, kind: str, name: str, options: dict, secrets: dict[str, str], image="bbb-3.0-prepared"):
    options = {"rate_per_second": 100, **options}
    return lambda cluster: cls(
        name,
        settings(kind, image=image, **options),
        cls.Options.model_validate(options),
        context(cluster, **secrets),
    )


@contextmanager
def openstack() -> Iterator[Cloud]:
    from chalicelib.adapters.providers.openstack import OpenStackProvider
    from tests.provider_fakes.openstack import FakeOpenStack

    with FakeOpenStack() as fake:
        options = {
            "auth_url": f"{fake.url}/v3",
            "username": "alice",
            "project_name": "demo",
            "region": "GRA11",
            "flavor": "b2-15",
            "network": "Ext-Net",
        }

        def boot():
            for server in fake.servers.values():
                if server["status"] == "BUILD":
                    server["status"] = "ACTIVE"

        yield Cloud(
            "ovh", _adapter(OpenStackProvider, "openstack", "ovh", options, {"OS_PASSWORD": "s3cret"}), boot
        )


@contextmanager
def cloudstack() -> Iterator[Cloud]:
    from chalicelib.adapters.providers.cloudstack import CloudStackProvider
    from tests.provider_fakes.cloudstack import FakeCloudStack

    with FakeCloudStack() as fake:
        options = {
            "url": f"{fake.url}/client/api",
            "zone": "EU-FR-IKDC2-Z4-ADVANCED",
            "service_offering": "m1.xlarge",
            "poll_interval_seconds": 0.05,
        }
        keys = {"CLOUDSTACK_API_KEY": "ck-api", "CLOUDSTACK_SECRET_KEY": "ck-secret"}
        yield Cloud(
            "ikoula", _adapter(CloudStackProvider, "cloudstack", "ikoula", options, keys), lambda: None
        )


@contextmanager
def outscale() -> Iterator[Cloud]:
    from chalicelib.adapters.providers.outscale import OutscaleProvider
    from tests.provider_fakes.outscale import FakeOutscale

    with FakeOutscale() as fake:
        options = {"endpoint": fake.url, "vm_type": "tinav5.c8r16p2"}
        keys = {"OSC_ACCESS_KEY": "osc-ak", "OSC_SECRET_KEY": "osc-sk"}

        def boot():
            for vm in fake.vms.values():
                if vm["State"] == "pending":
                    vm["State"] = "running"

        yield Cloud("osc", _adapter(OutscaleProvider, "outscale", "osc", options, keys), boot)


@contextmanager
def scaleway() -> Iterator[Cloud]:
    from chalicelib.adapters.providers.scaleway import ScalewayProvider
    from tests.provider_fakes.scaleway import FakeScaleway

    with FakeScaleway(token="scw-secret") as fake:
        options = {
            "api_url": fake.url,
            "project_id": "11111111-2222-4333-8444-555555555555",
            "backoff_seconds": 0.01,
        }
        secrets = {"SCW_SECRET_KEY": "scw-secret"}
        yield Cloud("scw", _adapter(ScalewayProvider, "scaleway", "scw", options, secrets), lambda: None)


@contextmanager
def ec2(endpoint: str) -> Iterator[Cloud]:
    from chalicelib.adapters.providers.ec2 import Ec2Provider

    options = {
        "region": "eu-west-3",
        "endpoint_url": endpoint,
        "access_key_id_env": "AWS_ID",
        "secret_access_key_env": "AWS_KEY",
        "concurrency": 4,
    }
    keys = {"AWS_ID": "testing", "AWS_KEY": "testing"}
    # moto's example AMI: RunInstances accepts it without listing the catalogue (which takes seconds)
    yield Cloud("aws", _adapter(Ec2Provider, "ec2", "aws", options, keys, image="ami-12c6146b"), lambda: None)


class _Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def simulated(calm_faults: bool = False) -> Iterator[Cloud]:
    """The simulated cloud; with `calm_faults`, seen through the fault suite's wrapper (tests/support/
    faults.py) with no fault drawn, which must change nothing."""
    from chalicelib.sim.cloud import SimulatedCloud
    from chalicelib.sim.world import SimWorld
    from tests.support.faults import Faults, FaultyProvider, Ledger

    world, clock = SimWorld(random.Random(7)), _Clock(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    config = ProviderSettings(kind="simulated", boot_minutes=5, quota=50)

    def provider(cluster: str) -> Provider:
        where = ProviderContext(cluster=cluster, now=clock, secret=lambda key: None, world=world)
        cloud = SimulatedCloud("gandi", config, {}, where)
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
