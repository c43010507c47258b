"""`[dns]` is validated at load like the rest: a known driver, its options, a name pattern holding
{server} once, and record names that are exactly what each provider's servers wait for at first boot."""

import pytest

from chalicelib.config import ConfigError
from chalicelib.config_file import parse_settings

OPENSTACK = {"auth_url": "https://k/v3", "username": "u", "project_name": "p", "region": "R", "flavor": "f"}


def load(dns, boot=None):
    options = {**OPENSTACK, **({"boot": boot} if boot is not None else {})}
    return parse_settings(
        {"cluster": "demo", "providers": {"ovh": {"kind": "openstack", "options": options}}, "dns": dns}
    )


def test_a_valid_dns_section():
    settings = load({"driver": "ovh", "zone": "bbb.example.org"})
    assert settings.dns.name == "{server}" and settings.dns.ttl == 300 and settings.dns.ipv6
    sub = load({"driver": "gandi_live", "zone": "example.org", "name": "{server}.bbb"})
    assert sub.dns.zone == "example.org"  # {server}.bbb.example.org = <server>.<boot.domain>


@pytest.mark.parametrize(
    ("dns", "boot", "message"),
    [
        ({"driver": "bind", "zone": "bbb.example.org"}, None, "dns.driver: unknown DNS driver 'bind'; choose one of: gandi_live, ovh, route53"),
        ({"driver": "ovh", "zone": "bbb.example.org", "options": {"api": "ovh-mars"}}, None, "dns.options.api"),
        ({"driver": "ovh", "zone": "bbb.example.org", "name": "bbb"}, None, "dns.name"),
        ({"driver": "ovh", "zone": "Bad Zone"}, None, "dns.zone"),
        ({"driver": "ovh", "zone": "bbb.example.org", "ttl": 5}, None, "dns.ttl"),
        ({"driver": "ovh", "zone": "other.example.org"}, None,
         "providers.ovh.options.boot.domain: its servers wait for bbbscale-demo-ovh-1.bbb.example.org but [dns] "
         "makes bbbscale-demo-ovh-1.other.example.org (set boot.domain = 'other.example.org')"),
        ({"driver": "ovh", "zone": "bbb.example.org"}, {"hostnames": ["a.bbb.example.org"]},
         "providers.ovh.options.boot.hostnames: a hostname pool cannot be combined with [dns]"),
    ],
)  # fmt: skip
def test_invalid_dns_settings_name_the_field(dns, boot, message):
    with pytest.raises(ConfigError, match="invalid") as caught:
        load(dns, boot)
    assert message in str(caught.value)
