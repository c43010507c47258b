"""Scaleway adapter over real HTTP against a loopback fake of the Instances API v1."""

import pytest

from chalicelib.adapters.providers.scaleway import ScalewayProvider
from chalicelib.adapters.providers.userdata import server_secret
from chalicelib.ports import LaunchSpec, ProviderError
from tests.provider_fakes.context import MASTER_KEY, context, settings
from tests.provider_fakes.scaleway import FakeScaleway

PROJECT = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def fake():
    with FakeScaleway(token="scw-secret") as api:
        yield api


def make(fake, cluster="demo", token="scw-secret", **extra):
    options = {
        "api_url": fake.url,
        "project_id": PROJECT,
        "rate_per_second": 100,
        "backoff_seconds": 0.01,
        **extra,
    }
    return ScalewayProvider(
        "scw",
        settings("scaleway", **options),
        ScalewayProvider.Options.model_validate(options),
        context(cluster, SCW_SECRET_KEY=token),
    )


def test_create_sends_user_data_then_powers_on(fake):
    provider = make(fake)
    vms = provider.create([LaunchSpec(name=f"bbbscale-demo-scw-{n}") for n in (1, 2)])
    assert sorted(vm.name for vm in vms) == ["bbbscale-demo-scw-1", "bbbscale-demo-scw-2"]
    server = next(s for s in fake.servers.values() if s["name"] == "bbbscale-demo-scw-1")
    assert "bbbscale:cluster=demo" in server["tags"] and "bbbscale:provider=scw" in server["tags"]
    user_data = fake.user_data[server["id"]].decode()
    assert f"BBB_SECRET={server_secret(MASTER_KEY, 'bbbscale-demo-scw-1')}" in user_data
    assert fake.sent("PATCH", "/user_data/cloud-init")[0].headers["Content-Type"] == "text/plain"
    listed = provider.list()
    assert {vm.status for vm in listed} == {"running"}
    assert {vm.address for vm in listed} == {
        "bbbscale-demo-scw-1.bbb.example.org",
        "bbbscale-demo-scw-2.bbb.example.org",
    }
    assert all(vm.launched_at and vm.launched_at.tzinfo for vm in listed)


def test_list_only_this_cluster_and_power_cycle_and_destroy(fake):
    mine, other = make(fake, cluster="demo"), make(fake, cluster="other")
    (vm,) = mine.create([LaunchSpec(name="bbbscale-demo-scw-1")])
    other.create([LaunchSpec(name="bbbscale-other-scw-1")])
    assert [v.vm_id for v in mine.list()] == [vm.vm_id]
    mine.stop(vm.vm_id)
    assert mine.list()[0].status == "stopped" and fake.servers[vm.vm_id]["state"] == "stopped"
    assert mine.start(vm.vm_id).status == "running"
    mine.stop(vm.vm_id)
    volumes = {v["id"] for v in fake.servers[vm.vm_id]["volumes"].values()}
    mine.destroy(vm.vm_id)  # stopped: deleted, then its volume
    assert vm.vm_id not in fake.servers and not volumes & fake.volumes
    mine.destroy(vm.vm_id)  # already gone: nothing to do
    (running,) = other.list()
    other.destroy(running.vm_id)
    assert fake.sent("POST", "/action")[-1].json() == {"action": "terminate"}


def test_throttled_creation_is_retried(fake):
    fake.throttle_left = 2
    (vm,) = make(fake).create([LaunchSpec(name="bbbscale-demo-scw-1")])
    assert len(fake.sent("POST", "/servers")) - len(fake.sent("POST", "/action")) == 3


def test_wrong_token_is_one_clear_error_without_the_token(fake):
    with pytest.raises(ProviderError) as caught:
        make(fake, token="wrong-token").list()
    assert "HTTP 401" in str(caught.value) and "wrong-token" not in str(caught.value)


def test_missing_secret_names_the_variable(fake):
    provider = make(fake)
    provider.context = context("demo")  # no SCW_SECRET_KEY
    with pytest.raises(ProviderError, match="SCW_SECRET_KEY"):
        provider.list()


def test_calls(fake):
    provider = make(fake)
    spec = provider.prepare([LaunchSpec(name="bbbscale-demo-scw-3")])[0]
    (line,) = provider.calls("create", [spec])
    assert line.startswith(f"POST {fake.url}/instance/v1/zones/fr-par-1/servers name=bbbscale-demo-scw-3")
    assert "kB" in line and MASTER_KEY not in line and "scw-secret" not in line
    assert provider.calls("destroy", ["abc"]) == [
        f"POST {fake.url}/instance/v1/zones/fr-par-1/servers/abc/action action=terminate"
    ]
    assert fake.requests == []  # describing makes no call


def test_a_half_made_server_that_vanished_still_has_its_volume_deleted(fake):
    provider = make(fake)
    original = fake._act

    def poweron_fails_and_server_vanishes(server, action):
        del fake.servers[server["id"]]  # deleted by someone else meanwhile: its volume stays
        return 500, {}, {"message": "internal error"}

    fake._act = poweron_fails_and_server_vanishes
    with pytest.raises(ProviderError, match="deleted again"):
        provider.create([LaunchSpec(name="bbbscale-demo-scw-1")])
    fake._act = original
    assert fake.servers == {} and fake.volumes == set()
