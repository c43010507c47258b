"""A VM created through each libcloud-backed provider adapter (OpenStack, CloudStack, Outscale, each over
real HTTP against its loopback fake) gets its record in the Gandi LiveDNS fake — under the name its
first boot waits for (the `bbbscale:hostname` the adapter gave it) — and a destroyed one loses it."""

from __future__ import annotations

import pytest

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.config_file import parse_settings
from chalicelib.render import tick_json
from chalicelib.service.forecasting import NoForecast
from tests.integration import (
    test_provider_cloudstack,
    test_provider_openstack,
    test_provider_outscale,
    test_provider_scaleway,
)
from tests.provider_fakes.cloudstack import FakeCloudStack
from tests.provider_fakes.context import MASTER_KEY
from tests.provider_fakes.dns_zones import SECRETS, ZONE, zone_of
from tests.provider_fakes.openstack import FakeOpenStack
from tests.provider_fakes.outscale import FakeOutscale
from tests.provider_fakes.scaleway import FakeScaleway
from tests.support.builders import T0
from tests.support.fakes import Clock, FakeBbb, FakeScalelite

PROVIDERS = {
    # name the test modules' make() gives the adapter: (fake API, make)
    "ovh": (FakeOpenStack, test_provider_openstack.make),
    "ikoula": (FakeCloudStack, test_provider_cloudstack.make),
    "osc": (FakeOutscale, test_provider_outscale.make),
    "scw": (FakeScaleway, test_provider_scaleway.make),
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_vm_created_through_the_provider_gets_its_record_and_loses_it_when_destroyed(name):
    api_class, make = PROVIDERS[name]
    with api_class() as api, zone_of("gandi_live") as (options, zone):
        adapter = make(api, cluster="t")
        settings = parse_settings(
            {
                "cluster": "t",
                "headroom": {"percent": 0, "units": 300},
                # the adapter's own settings: its kind renders the user data with the server's hostname
                "providers": {name: {**adapter.settings.model_dump(), "max_provision_minutes": 15}},
                "dns": {"driver": "gandi_live", "zone": ZONE, "options": options},
            }
        )
        clock, scalelite = Clock(T0), FakeScalelite()
        store = MemoryStateStore(cluster="t")
        rt = Wiring(
            settings,
            store=store,
            scalelite=scalelite,
            providers={name: adapter},
            bbb_factory=lambda url, secret, server: FakeBbb(scalelite, url, set()),
            clock=clock,
            secret={**SECRETS, "BBBSCALE_SERVER_SECRET_KEY": MASTER_KEY}.get,
            forecaster=NoForecast(),
        )
        server = f"bbbscale-t-{name}-1"
        for _ in range(2):  # created in the first tick; its address may only be listed in the next
            clock.advance(minutes=1)
            rt.tick(now=clock.now)
        (vm,) = adapter.list()
        assert vm.address == f"{server}.{ZONE}" and vm.ips  # the name its first boot waits for
        records = {key: values for key, values in zone.addresses().items() if key[0] != "lb"}
        assert records == {(server, "A"): [vm.ips[0]]}

        clock.advance(minutes=15)  # never healthy: replaced (destroyed) after max_provision_minutes
        result = tick_json(rt.tick(now=clock.now))
        assert any(a["action"] == "replace" and a["server"] == server for a in result["actions"])
        assert (server, "A") not in zone.addresses()
        assert {s.name: s.state.value for s in store.servers.servers()}[server] == "failed"
