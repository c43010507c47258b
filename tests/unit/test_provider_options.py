"""Every adapter kind: a minimal configuration validates, a wrong option is an error naming the field,
an adapter built from it satisfies the Provider port, and EC2's errors classify throttling."""

import pytest

from chalicelib.config import ConfigError
from chalicelib.config_file import parse_settings
from chalicelib.ports import Provider, ProviderError
from chalicelib.registry import PROVIDERS, resolve
from tests.provider_fakes.context import context

MINIMAL = {
    "openstack": {
        "auth_url": "https://auth.example/v3",
        "username": "u",
        "project_name": "p",
        "region": "R1",
        "flavor": "f",
    },
    "cloudstack": {"zone": "z1", "service_offering": "m1.xlarge"},
    "outscale": {"region": "eu-west-2"},
    "ec2": {"region": "eu-west-3"},
    "scaleway": {"project_id": "11111111-2222-4333-8444-555555555555"},
    "static": {"servers": [{"name": "bbb01", "url": "https://bbb01.example.org/bigbluebutton/api"}]},
}
WRONG = {
    "openstack": ("auth", "kerberos"),
    "cloudstack": ("poll_interval_seconds", 0),
    "outscale": ("region", "mars"),
    "ec2": ("rate_per_second", -1),
    "scaleway": ("zone", "paris"),
    "static": ("servers", "bbb01"),
}


def document(kind, options):
    return {
        "providers": {
            "p1": {"kind": kind, "mode": "static" if kind == "static" else "create", "options": options}
        }
    }


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_minimal_options_validate_and_build_a_provider(kind):
    settings = parse_settings(document(kind, MINIMAL[kind]))
    cls = resolve(PROVIDERS, kind, "provider kind")
    adapter = cls("p1", settings.providers["p1"], cls.Options.model_validate(MINIMAL[kind]), context())
    assert isinstance(adapter, Provider) and adapter.name == "p1" and callable(adapter.calls)


@pytest.mark.parametrize("kind", sorted(WRONG))
def test_wrong_option_names_the_field(kind):
    field, value = WRONG[kind]
    with pytest.raises(ConfigError, match=rf"providers\.p1\.options\.{field}"):
        parse_settings(document(kind, {**MINIMAL[kind], field: value}))


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_unknown_option_is_refused(kind):
    with pytest.raises(ConfigError, match=r"providers\.p1\.options\.flavour"):
        parse_settings(document(kind, {**MINIMAL[kind], "flavour": "x"}))


def test_ec2_errors_are_classified():
    from botocore.exceptions import ClientError, EndpointConnectionError

    from chalicelib.adapters.providers.ec2 import _failure

    throttled = _failure(
        "run_instances",
        ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "m"}}, "RunInstances"),
    )
    quota = _failure(
        "run_instances",
        ClientError({"Error": {"Code": "InstanceLimitExceeded", "Message": "m"}}, "RunInstances"),
    )
    down = _failure("run_instances", EndpointConnectionError(endpoint_url="https://ec2.example"))
    assert (
        isinstance(throttled, ProviderError)
        and throttled.retryable
        and down.retryable
        and not quota.retryable
    )
    assert "InstanceLimitExceeded" in str(quota)


@pytest.mark.parametrize(
    "region", ["eu-west-2", "cloudgouv-eu-west-1", "us-east-2", "us-west-1", "ap-northeast-1"]
)
def test_every_outscale_region_validates_and_targets_its_own_api(region):
    from chalicelib.adapters.providers.outscale import OutscaleProvider

    settings = parse_settings(document("outscale", {"region": region}))
    options = OutscaleProvider.Options.model_validate(settings.providers["p1"].options)
    adapter = OutscaleProvider("p1", settings.providers["p1"], options, context())
    assert adapter.calls("stop", ["i-1"]) == [
        f"POST https://api.{region}.outscale.com/api/v1/StopVms VmIds=[i-1]"
    ]


@pytest.mark.parametrize("region", ["eu-west-1", "cloudgouv-eu-west-2", "EU-WEST-2", "fr-par-1"])
def test_unknown_outscale_region_is_refused_naming_the_choices(region):
    with pytest.raises(ConfigError) as caught:
        parse_settings(document("outscale", {"region": region}))
    message = str(caught.value)
    assert "providers.p1.options.region" in message
    assert all(
        name in message for name in ("eu-west-2", "cloudgouv-eu-west-1", "us-east-2", "ap-northeast-1")
    )
