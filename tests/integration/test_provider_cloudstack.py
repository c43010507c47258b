"""CloudStack (Ikoula) adapter through libcloud over real HTTP against a loopback fake of its API."""

import base64

import pytest

from chalicelib.adapters.providers.cloudstack import CloudStackProvider
from chalicelib.ports import LaunchSpec, ProviderError
from tests.provider_fakes.cloudstack import FakeCloudStack
from tests.provider_fakes.context import context, settings

KEYS = {"CLOUDSTACK_API_KEY": "ck-api", "CLOUDSTACK_SECRET_KEY": "ck-secret"}


@pytest.fixture
def fake():
    with FakeCloudStack() as api:
        yield api


def make(fake, cluster="demo", keys=KEYS, **extra):
    options = {
        "url": f"{fake.url}/client/api",
        "zone": "EU-FR-IKDC2-Z4-ADVANCED",
        "service_offering": "m1.xlarge",
        "poll_interval_seconds": 0.05,
        "rate_per_second": 100,
        "key_pair": "ops",
        **extra,
    }
    return CloudStackProvider(
        "ikoula",
        settings("cloudstack", **options),
        CloudStackProvider.Options.model_validate(options),
        context(cluster, **keys),
    )


def test_deploy_tag_list_stop_start_destroy(fake):
    provider = make(fake)
    vms = provider.create([LaunchSpec(name=f"bbbscale-demo-ikoula-{n}") for n in (1, 2)])
    assert sorted(vm.name for vm in vms) == ["bbbscale-demo-ikoula-1", "bbbscale-demo-ikoula-2"]
    raw = next(v for v in fake.vms.values() if v["name"] == "bbbscale-demo-ikoula-1")
    assert raw["state"] == "Running" and raw["keypair"] == "ops"
    assert base64.b64decode(raw["_userdata"]).decode().startswith("#cloud-config")
    assert {t["key"]: t["value"] for t in raw["tags"]}["bbbscale:cluster"] == "demo"

    make(fake, cluster="other").create([LaunchSpec(name="bbbscale-other-ikoula-1")])
    listed = {vm.vm_id: vm for vm in provider.list()}
    assert set(listed) == {vm.vm_id for vm in vms}
    vm = listed[raw["id"]]
    assert (
        vm.status == "running" and vm.address == "bbbscale-demo-ikoula-1.bbb.example.org" and vm.launched_at
    )

    provider.stop(vm.vm_id)
    assert fake.vms[vm.vm_id]["state"] == "Stopped"
    assert {v.vm_id: v.status for v in provider.list()}[vm.vm_id] == "stopped"
    assert provider.start(vm.vm_id).status == "running"
    provider.destroy(vm.vm_id)
    assert vm.vm_id not in fake.vms
    provider.destroy(vm.vm_id)  # already gone (CloudStack's 431 "does not exist"): fine


def test_bad_signature_is_one_clear_error(fake):
    with pytest.raises(ProviderError) as caught:
        make(fake, keys={**KEYS, "CLOUDSTACK_SECRET_KEY": "forged-key"}).list()
    assert "cloudstack listVirtualMachines failed" in str(caught.value)
    assert "forged-key" not in str(caught.value) and "signature=" not in str(caught.value)


def test_unknown_offering_creates_nothing(fake):
    with pytest.raises(ProviderError, match="no service offering 'huge'"):
        make(fake, service_offering="huge").create([LaunchSpec(name="bbbscale-demo-ikoula-1")])
    assert fake.vms == {}


def test_calls(fake):
    provider = make(fake)
    spec = provider.prepare([LaunchSpec(name="bbbscale-demo-ikoula-4")])[0]
    (line,) = provider.calls("create", [spec])
    assert "command=deployVirtualMachine name=bbbscale-demo-ikoula-4" in line and "ck-secret" not in line
    assert provider.calls("destroy", ["v1"]) == [
        f"GET {fake.url}/client/api command=destroyVirtualMachine id=v1 expunge=true"
    ]
    assert fake.requests == []
