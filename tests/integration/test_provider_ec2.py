"""EC2 adapter over real HTTP against moto's server: create with user data and tags, list by tag,
stop/start, terminate."""

import base64

import boto3
import pytest

from chalicelib.adapters.providers.ec2 import Ec2Provider
from chalicelib.ports import LaunchSpec, ProviderError
from tests.provider_fakes.context import context, settings

KEYS = {"AWS_ID": "testing", "AWS_KEY": "testing-secret"}


def make(url, name="aws", cluster="demo", mode="create", image=None):
    options = dict(
        region="eu-west-3",
        endpoint_url=url,
        access_key_id_env="AWS_ID",
        secret_access_key_env="AWS_KEY",
        rate_per_second=50,
        concurrency=4,
    )
    image = image or _ami(url)
    cfg = settings("ec2", mode=mode, image=image, **options)
    return Ec2Provider(name, cfg, Ec2Provider.Options.model_validate(options), context(cluster, **KEYS))


def _client(url):
    return boto3.client(
        "ec2",
        region_name="eu-west-3",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )


def _ami(url):
    """An AMI id for RunInstances: moto's server accepts its example id without listing its catalogue
    (which takes seconds)."""
    return "ami-12c6146b"


def test_create_with_user_data_and_tags_then_list_stop_start_terminate(moto_url):
    provider = make(moto_url, cluster="ec2a")
    specs = [LaunchSpec(name=f"bbbscale-ec2a-aws-{n}") for n in (1, 2, 3)]
    created = provider.create(specs)
    assert sorted(vm.name for vm in created) == [s.name for s in specs]

    ec2 = _client(moto_url)
    first = created[0]
    raw = ec2.describe_instance_attribute(InstanceId=first.vm_id, Attribute="userData")["UserData"]["Value"]
    user_data = base64.b64decode(raw).decode()
    assert "#cloud-config" in user_data and f"BBBSCALE_SERVER_NAME={first.name}" in user_data
    tags = {
        t["Key"]: t["Value"]
        for t in ec2.describe_instances(InstanceIds=[first.vm_id])["Reservations"][0]["Instances"][0]["Tags"]
    }
    assert (
        tags["bbbscale:cluster"] == "ec2a"
        and tags["bbbscale:provider"] == "aws"
        and tags["Name"] == first.name
    )

    # Another cluster's instance in the same account is never listed.
    make(moto_url, cluster="other").create([LaunchSpec(name="bbbscale-other-aws-1")])
    listed = {vm.vm_id: vm for vm in provider.list()}
    assert set(listed) == {vm.vm_id for vm in created}
    assert all(vm.status == "running" and vm.launched_at and vm.address for vm in listed.values())
    assert listed[first.vm_id].address == f"{first.name}.bbb.example.org"  # the DNS name we gave it

    provider.stop(first.vm_id)
    assert {vm.vm_id: vm.status for vm in provider.list()}[first.vm_id] == "stopped"
    assert provider.start(first.vm_id).status in ("pending", "running")
    provider.destroy(first.vm_id)
    assert first.vm_id not in {vm.vm_id for vm in provider.list()}


def test_image_by_name_and_unknown_image(moto_url):
    ec2 = _client(moto_url)
    seed = ec2.run_instances(ImageId=_ami(moto_url), MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.create_image(InstanceId=seed, Name="bbb-3.0-prepared")
    provider = make(moto_url, cluster="ec2b", image="bbb-3.0-prepared")
    vm = provider.create([LaunchSpec(name="bbbscale-ec2b-aws-1")])[0]
    assert vm.image and vm.image.startswith("ami-")
    missing = make(moto_url, cluster="ec2c", image="no-such-image")
    with pytest.raises(ProviderError, match="no-such-image"):
        missing.create([LaunchSpec(name="bbbscale-ec2c-aws-1")])


def test_power_mode_finds_precreated_stopped_instances(moto_url):
    ec2 = _client(moto_url)
    tags = [
        {"Key": "bbbscale:cluster", "Value": "ec2p"},
        {"Key": "bbbscale:provider", "Value": "aws"},
        {"Key": "Name", "Value": "bbbscale-ec2p-aws-1"},
    ]
    made = ec2.run_instances(
        ImageId=_ami(moto_url),
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[made])
    provider = make(moto_url, cluster="ec2p", mode="power")
    assert [(vm.vm_id, vm.status) for vm in provider.list()] == [(made, "stopped")]
    provider.start(made)
    assert provider.list()[0].status == "running"


def test_calls_describe_without_secrets(moto_url):
    provider = make(moto_url, cluster="ec2d")
    spec = provider.prepare([LaunchSpec(name="bbbscale-ec2d-aws-9")])[0]
    (line,) = provider.calls("create", [spec])
    assert "RunInstances name=bbbscale-ec2d-aws-9" in line and "kB" in line
    assert "testing-secret" not in line and "master-key" not in line
    assert provider.calls("stop", ["i-123"]) == [f"POST {moto_url}/ StopInstances InstanceIds=i-123"]
    with pytest.raises(ProviderError, match="unknown operation"):
        provider.calls("reboot", ["i-1"])


def test_a_listed_instance_carries_its_public_addresses_for_its_dns_records(moto_url):
    """docs/dns.md: a VM's records are made from `VM.ips`; EC2 reports the instance's public IPv4 (and
    IPv6) address, the one EC2 itself describes."""
    provider = make(moto_url, cluster="ec2ips")
    (created,) = provider.create([LaunchSpec(name="bbbscale-ec2ips-aws-1")])
    described = _client(moto_url).describe_instances(InstanceIds=[created.vm_id])
    public = described["Reservations"][0]["Instances"][0].get("PublicIpAddress")
    (listed,) = provider.list()
    assert public and listed.ips[0] == public


def test_every_instance_is_launched_with_imdsv2_only_and_hop_limit_1(moto_url):
    """docs/providers/ec2.md: the metadata service answers only token requests from the instance itself;
    moto's server keeps what RunInstances asked (its default would be tokens optional)."""
    provider = make(moto_url, cluster="ec2imds")
    created = provider.create([LaunchSpec(name=f"bbbscale-ec2imds-aws-{n}") for n in (1, 2)])
    described = _client(moto_url).describe_instances(InstanceIds=[vm.vm_id for vm in created])
    options = [i["MetadataOptions"] for r in described["Reservations"] for i in r["Instances"]]
    assert len(options) == 2
    for held in options:
        assert held["HttpTokens"] == "required"
        assert held["HttpPutResponseHopLimit"] == 1
        assert held["HttpEndpoint"] == "enabled"
    assert "metadata=IMDSv2-only,hop-limit=1" in provider.calls("create", [LaunchSpec(name="x")])[0]
