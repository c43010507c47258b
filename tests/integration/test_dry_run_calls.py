"""`tick --dry-run` against real provider adapters (EC2 on moto's server, OpenStack on the loopback Nova):
it says exactly which API calls it would make, and makes none of the changing ones."""

from __future__ import annotations

from chalicelib.adapters.providers.openstack import OpenStackProvider
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.config import Settings
from tests.integration.test_provider_ec2 import make as make_ec2
from tests.provider_fakes.context import context
from tests.provider_fakes.context import settings as provider_settings
from tests.provider_fakes.openstack import FakeOpenStack
from tests.support.builders import T0
from tests.support.fakes import Clock, FakeScalelite


def runtime_over(providers: dict, adapters: dict) -> Wiring:
    cfg = Settings.model_validate(
        {
            "cluster": "demo",
            "headroom": {"percent": 0, "units": 900},
            "forecast": {"enabled": False},
            "providers": providers,
        }
    )
    return Wiring(
        cfg,
        store=MemoryStateStore(cluster="demo"),
        scalelite=FakeScalelite(),
        providers=adapters,
        clock=Clock(T0),
        secret=lambda name: None,
    )


def test_dry_run_names_the_ec2_calls_and_creates_nothing(moto_url):
    ec2 = make_ec2(moto_url)
    rt = runtime_over({"aws": {"kind": "ec2", "max_surge": 5, "image": ec2.settings.image}}, {"aws": ec2})
    result = rt.tick(dry_run=True)
    (start,) = [a for a in result["actions"] if a["action"] == "start"]
    assert start["count"] == 3 and len(start["calls"]) == 3
    assert all("RunInstances" in call and "bbbscale-demo-aws-" in call for call in start["calls"]), start[
        "calls"
    ]
    assert ec2.list() == [], "a dry run creates nothing"
    assert rt.store.servers.servers() == []


def test_dry_run_names_the_nova_requests():
    with FakeOpenStack() as fake:
        options = {
            "auth_url": f"{fake.url}/v3",
            "username": "alice",
            "project_name": "demo",
            "region": "GRA11",
            "flavor": "b2-15",
            "network": "Ext-Net",
            "key_name": "ops",
            "rate_per_second": 100,
        }
        ovh = OpenStackProvider(
            "ovh",
            provider_settings("openstack", **options),
            OpenStackProvider.Options.model_validate(options),
            context("demo", OS_PASSWORD="s3cret"),
        )
        rt = runtime_over({"ovh": {"kind": "openstack", "max_surge": 5, "options": options}}, {"ovh": ovh})
        result = rt.tick(dry_run=True)
        (start,) = [a for a in result["actions"] if a["action"] == "start"]
        assert len(start["calls"]) == 3 and all("servers" in call for call in start["calls"]), start["calls"]
        assert "s3cret" not in " ".join(start["calls"])
        assert ovh.list() == []
