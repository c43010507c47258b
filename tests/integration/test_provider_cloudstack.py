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
        f"GET {fake.url}/client/api command=destroyVirtualMachine id=v1 "
        "expunge=true (if listCapabilities allowuserexpungerecovervm)"
    ]
    assert fake.requests == []


NAT = {"network": "bbb-isolated", "public_ip": "static_nat"}


def test_isolated_network_gives_each_vm_its_own_public_ip_released_on_destroy(fake):
    provider = make(fake, **NAT)
    (vm,) = provider.create([LaunchSpec(name="bbbscale-demo-ikoula-1")])
    (ip,) = fake.ips.values()
    raw = fake.vms[vm.vm_id]
    assert raw["nic"][0]["ipaddress"].startswith("10.1.1.") and ip["virtualmachineid"] == vm.vm_id
    assert {t["key"]: t["value"] for t in ip["tags"]} == {
        "bbbscale:cluster": "demo",
        "bbbscale:provider": "ikoula",
        "bbbscale:vm": vm.vm_id,
        "Name": "bbbscale-demo-ikoula-1",
    }
    opened = sorted((r["protocol"], r["startport"], r["endport"], r["cidrlist"]) for r in fake.rules.values())
    assert opened == [
        ("tcp", 80, 80, "0.0.0.0/0"),
        ("tcp", 443, 443, "0.0.0.0/0"),
        ("udp", 16384, 32768, "0.0.0.0/0"),
    ]
    # The listing sees the VM at its public IP (libcloud maps static NAT IPs to their VM).
    (node,) = provider.driver.list_nodes()
    assert node.public_ips == [ip["ipaddress"]] and node.private_ips == [raw["nic"][0]["ipaddress"]]
    assert [v.vm_id for v in provider.list()] == [vm.vm_id]

    provider.destroy(vm.vm_id)
    assert fake.vms == {} and fake.ips == {} and fake.rules == {}
    provider.destroy(vm.vm_id)  # already gone, IP included: fine


def test_a_public_ip_whose_vm_is_gone_is_released(fake):
    provider = make(fake, **NAT)
    (vm,) = provider.create([LaunchSpec(name="bbbscale-demo-ikoula-1")])
    fake.requests.clear()
    # The VM is destroyed behind bbbscale's back (or a destroy was cut short): static NAT ends, the IP stays.
    fake._destroyVirtualMachine({"id": vm.vm_id, "expunge": "True"})
    assert len(fake.ips) == 1 and "virtualmachineid" not in next(iter(fake.ips.values()))
    (second,) = provider.create([LaunchSpec(name="bbbscale-demo-ikoula-2")])
    assert [ip["virtualmachineid"] for ip in fake.ips.values()] == [second.vm_id]


def test_static_nat_options_are_validated():
    from chalicelib.config import ConfigError
    from chalicelib.config_file import parse_settings

    def document(**options):
        base = {"zone": "z", "service_offering": "m1.xlarge", **options}
        return {"providers": {"ik": {"kind": "cloudstack", "options": base}}}

    parse_settings(document(**NAT, ingress=["tcp:443", "udp:3478", "udp:16384-32768"]))
    with pytest.raises(ConfigError, match="static_nat needs the isolated network"):
        parse_settings(document(public_ip="static_nat"))
    with pytest.raises(ConfigError, match=r"providers\.ik\.options\.ingress.*'icmp:8'"):
        parse_settings(document(**NAT, ingress=["icmp:8"]))
    with pytest.raises(ConfigError, match="first <= last"):
        parse_settings(document(**NAT, ingress=["udp:32768-16384"]))


def test_static_nat_calls(fake):
    provider = make(fake, **NAT)
    spec = provider.prepare([LaunchSpec(name="bbbscale-demo-ikoula-5")])[0]
    fake.requests.clear()
    (create,) = provider.calls("create", [spec])
    assert "associateIpAddress network=bbb-isolated" in create and "enableStaticNat" in create
    assert "tcp:80,tcp:443,udp:16384-32768 from 0.0.0.0/0" in create
    assert "disassociateIpAddress" in provider.calls("destroy", ["vm-1"])[0]
    assert fake.requests == []


def commands(fake, name):
    return [r for r in fake.requests if r.query.get("command") == name]


@pytest.mark.parametrize("allowed", [True, False])
def test_expunge_only_where_list_capabilities_allows_it(allowed):
    """CloudStack refuses expunge=true from a user account without allow.user.expunge.recover.vm (531):
    the adapter asks listCapabilities once and destroys without expunge where it may not; CloudStack
    then expunges the VM after its expunge.delay, and it is gone from our list at once."""
    with FakeCloudStack(allow_expunge=allowed) as fake:
        provider = make(fake)
        vms = provider.create([LaunchSpec(name=f"bbbscale-demo-ikoula-{n}") for n in (1, 2)])
        for vm in vms:
            provider.destroy(vm.vm_id)
        destroys = commands(fake, "destroyVirtualMachine")
        assert [r.query.get("expunge", "absent") for r in destroys] == ["True" if allowed else "absent"] * 2
        assert len(commands(fake, "listCapabilities")) == 1  # asked once
        if allowed:
            assert fake.vms == {}
        else:
            assert {v["state"] for v in fake.vms.values()} == {"Destroyed"}
        assert provider.list() == []


def test_no_expunge_asked_means_no_capabilities_read_and_an_unreadable_answer_is_asked_again(fake):
    provider = make(fake, expunge=False)
    (vm,) = provider.create([LaunchSpec(name="bbbscale-demo-ikoula-1")])
    provider.destroy(vm.vm_id)
    assert commands(fake, "listCapabilities") == [] and fake.vms[vm.vm_id]["state"] == "Destroyed"
    provider = make(fake)
    vms = provider.create([LaunchSpec(name=f"bbbscale-demo-ikoula-{n}") for n in (2, 3)])
    # the next request, listCapabilities, refused as a role without that API is (CloudStack's 432)
    fake.fail_request(1, 432)
    provider.destroy(vms[0].vm_id)  # destroyed all the same, without expunge
    provider.destroy(vms[1].vm_id)  # asked again: allowed
    assert [r.query.get("expunge", "absent") for r in commands(fake, "destroyVirtualMachine")[1:]] == [
        "absent",
        "True",
    ]
    assert len(commands(fake, "listCapabilities")) == 2
