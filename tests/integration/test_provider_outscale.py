"""Outscale adapter through libcloud's OSC driver over real HTTP against a loopback fake of its API."""

import base64

import pytest

from chalicelib.adapters.providers.outscale import OutscaleProvider
from chalicelib.ports import LaunchSpec, ProviderError
from tests.provider_fakes.context import context, settings
from tests.provider_fakes.outscale import FakeOutscale

KEYS = {"OSC_ACCESS_KEY": "osc-ak", "OSC_SECRET_KEY": "osc-sk-very-secret"}


@pytest.fixture
def fake():
    with FakeOutscale() as api:
        yield api


def make(fake, cluster="demo", keys=KEYS, image="bbb-3.0-prepared", **extra):
    options = {
        "endpoint": fake.url,
        "vm_type": "tinav5.c8r16p2",
        "keypair_name": "ops",
        "rate_per_second": 100,
        **extra,
    }
    return OutscaleProvider(
        "osc",
        settings("outscale", image=image, **options),
        OutscaleProvider.Options.model_validate(options),
        context(cluster, **keys),
    )


def test_create_tag_list_stop_start_destroy(fake):
    provider = make(fake)
    vms = provider.create([LaunchSpec(name=f"bbbscale-demo-osc-{n}") for n in (1, 2)])
    assert sorted(vm.name for vm in vms) == ["bbbscale-demo-osc-1", "bbbscale-demo-osc-2"]
    raw = next(v for v in fake.vms.values() if {"Key": "Name", "Value": "bbbscale-demo-osc-1"} in v["Tags"])
    assert {"Key": "bbbscale:cluster", "Value": "demo"} in raw["Tags"] and raw["KeypairName"] == "ops"
    assert base64.b64decode(raw["_user_data"]).decode().startswith("#cloud-config")
    assert all("osc-sk-very-secret" not in str(r.headers) for r in fake.requests)

    make(fake, cluster="other").create([LaunchSpec(name="bbbscale-other-osc-1")])
    for vm in fake.vms.values():
        vm["State"] = "running"
    listed = {vm.vm_id: vm for vm in provider.list()}
    assert set(listed) == {vm.vm_id for vm in vms}
    vm = listed[raw["VmId"]]
    assert vm.name == "bbbscale-demo-osc-1" and vm.status == "running" and vm.launched_at
    assert vm.address == "bbbscale-demo-osc-1.bbb.example.org"

    provider.stop(vm.vm_id)
    assert {v.vm_id: v.status for v in provider.list()}[vm.vm_id] == "stopped"
    assert provider.start(vm.vm_id).status == "running"
    provider.destroy(vm.vm_id)  # VmIds sent as an array (libcloud's own destroy_node sends a string)
    assert vm.vm_id not in fake.vms
    provider.destroy(vm.vm_id)  # already gone: fine


def test_image_by_id_and_unknown_image(fake):
    (vm,) = make(fake, image="ami-bbb27a01").create([LaunchSpec(name="bbbscale-demo-osc-1")])
    assert vm.image == "ami-bbb27a01"
    with pytest.raises(ProviderError, match="no image named 'nope'"):
        make(fake, image="nope").create([LaunchSpec(name="bbbscale-demo-osc-2")])


def test_api_errors_are_one_clear_line(fake):
    with pytest.raises(ProviderError) as caught:
        make(fake, keys={**KEYS, "OSC_ACCESS_KEY": "unknown"}).list()
    assert "ReadVms" in str(caught.value) and "HTTP 401" in str(caught.value)
    assert "osc-sk-very-secret" not in str(caught.value)
    with pytest.raises(ProviderError, match="HTTP 400"):
        make(fake).stop("i-missing")


def test_calls(fake):
    provider = make(fake)
    spec = provider.prepare([LaunchSpec(name="bbbscale-demo-osc-5")])[0]
    (line,) = provider.calls("create", [spec])
    assert line.startswith(f"POST {fake.url}/api/v1/CreateVms image=bbb-3.0-prepared type=tinav5.c8r16p2")
    assert provider.calls("start", ["i-1"]) == [f"POST {fake.url}/api/v1/StartVms VmIds=[i-1]"]
    assert fake.requests == []


def test_a_vm_whose_create_answers_were_all_lost_is_found_by_its_client_token_and_deleted(fake):
    provider = make(fake, retries=2, backoff_seconds=0.01)
    with FakeOutscale() as probe:  # where CreateVms falls in a creation's requests
        make(probe).create([LaunchSpec(name="bbbscale-demo-osc-1")])
        first = [r.path for r in probe.requests].index("/api/v1/CreateVms") + 1
    for attempt in range(3):  # each attempt is carried out (the token returns the same VM), answer lost
        fake.fail_request(first + attempt, 500, after=True)
    with pytest.raises(ProviderError, match="CreateVms"):
        provider.create([LaunchSpec(name="bbbscale-demo-osc-1")])
    assert len(fake.sent("POST", "/CreateVms")) == 3 and len(fake.tokens) == 1
    assert fake.vms == {}  # untagged, invisible to the tag-filtered listing, deleted by its token
