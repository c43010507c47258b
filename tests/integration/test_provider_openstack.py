"""OpenStack adapter through libcloud over real HTTP against a loopback Keystone v3 + Nova fake."""

import base64

import pytest

from chalicelib.adapters.providers.openstack import OpenStackProvider
from chalicelib.config import ConfigError
from chalicelib.config_file import parse_settings
from chalicelib.ports import LaunchSpec, ProviderError
from tests.provider_fakes.context import context, settings
from tests.provider_fakes.openstack import FakeOpenStack


@pytest.fixture
def fake():
    with FakeOpenStack() as api:
        yield api


def make(fake, cluster="demo", secrets=None, **extra):
    options = {
        "auth_url": f"{fake.url}/v3",
        "username": "alice",
        "project_name": "demo",
        "region": "GRA11",
        "flavor": "b2-15",
        "network": "Ext-Net",
        "key_name": "ops",
        "rate_per_second": 100,
        **extra,
    }
    return OpenStackProvider(
        "ovh",
        settings("openstack", **options),
        OpenStackProvider.Options.model_validate(options),
        context(cluster, **(secrets or {"OS_PASSWORD": "s3cret"})),
    )


def test_create_list_stop_start_destroy(fake):
    provider = make(fake)
    vms = provider.create([LaunchSpec(name=f"bbbscale-demo-ovh-{n}") for n in (1, 2, 3)])
    assert sorted(vm.name for vm in vms) == [f"bbbscale-demo-ovh-{n}" for n in (1, 2, 3)]
    server = next(s for s in fake.servers.values() if s["name"] == "bbbscale-demo-ovh-1")
    assert server["metadata"] == {
        "bbbscale:cluster": "demo",
        "bbbscale:provider": "ovh",
        "bbbscale:hostname": "bbbscale-demo-ovh-1.bbb.example.org",
    }
    assert server["flavor"]["id"] == "906e8259-0001" and server["key_name"] == "ops"
    assert server["_networks"] == [{"uuid": fake.networks[0]["id"]}]
    assert base64.b64decode(server["_user_data"]).decode().startswith("#cloud-config")

    for s in fake.servers.values():
        s["status"] = "ACTIVE"
    fake.servers["x"] = {**server, "id": "x", "name": "someone-else", "metadata": {}}
    listed = {vm.vm_id: vm for vm in provider.list()}
    assert len(listed) == 3 and "x" not in listed
    vm = listed[server["id"]]
    assert vm.status == "running" and vm.address == "bbbscale-demo-ovh-1.bbb.example.org" and vm.launched_at

    provider.stop(vm.vm_id)
    assert fake.servers[vm.vm_id]["status"] == "SHUTOFF"
    assert {v.vm_id: v.status for v in provider.list()}[vm.vm_id] == "stopped"
    assert provider.start(vm.vm_id).status == "running"
    provider.destroy(vm.vm_id)
    assert vm.vm_id not in fake.servers
    provider.destroy(vm.vm_id)  # already gone: fine


def test_application_credentials(fake):
    provider = make(
        fake,
        auth="application_credential",
        application_credential_id="ac-1",
        username=None,
        secrets={"OS_APPLICATION_CREDENTIAL_SECRET": "ac-secret"},
    )
    assert provider.list() == []
    sent = fake.sent("POST", "/v3/auth/tokens")[0].json()["auth"]["identity"]
    assert sent["methods"] == ["application_credential"] and sent["application_credential"]["id"] == "ac-1"


def test_wrong_password_and_unknown_flavor_are_clear_errors(fake):
    with pytest.raises(ProviderError) as caught:
        make(fake, secrets={"OS_PASSWORD": "nope-wrong"}).list()
    assert "openstack list servers failed" in str(caught.value) and "nope-wrong" not in str(caught.value)
    with pytest.raises(ProviderError, match="no flavor 'x9'"):
        make(fake, flavor="x9").create([LaunchSpec(name="bbbscale-demo-ovh-1")])
    assert fake.servers == {}


def test_options_validation_names_the_field():
    document = {
        "providers": {
            "ovh": {
                "kind": "openstack",
                "options": {
                    "auth_url": "https://k/v3",
                    "region": "GRA11",
                    "flavor": "b2-15",
                    "username": "a",
                    "project_name": "p",
                    "concurrency": 0,
                },
            }
        }
    }
    with pytest.raises(ConfigError, match=r"providers\.ovh\.options\.concurrency"):
        parse_settings(document)
    document["providers"]["ovh"]["options"].pop("concurrency")
    document["providers"]["ovh"]["options"].pop("region")
    with pytest.raises(ConfigError, match=r"providers\.ovh\.options\.region"):
        parse_settings(document)


def test_calls_name_the_requests(fake):
    provider = make(fake)
    spec = provider.prepare([LaunchSpec(name="bbbscale-demo-ovh-7")])[0]
    (line,) = provider.calls("create", [spec])
    assert (
        "POST nova[GRA11 via 127.0.0.1]/servers name=bbbscale-demo-ovh-7 flavor=b2-15 image=bbb-3.0-prepared"
        in line
    )
    assert "s3cret" not in line and "kB" in line
    assert provider.calls("stop", ["abc"]) == ["POST nova[GRA11 via 127.0.0.1]/servers/abc/action os-stop"]
    assert fake.requests == []
