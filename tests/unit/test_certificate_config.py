"""`[certificates]` is validated at load against the rest: DNS-01 needs `[dns]` with the fleet's domain
inside its zone, every booting provider's `boot.domain` must be that domain (the wildcard covers its
servers' names) and name `boot.cert_url` (where its first boot fetches the certificate); the CERT_URL
reaches the user data, and nothing else of the certificate does."""

import pytest

from chalicelib.adapters.providers.userdata import BootOptions, render
from chalicelib.config import ConfigError
from chalicelib.config_file import parse_settings

OPENSTACK = {"auth_url": "https://k/v3", "username": "u", "project_name": "p", "region": "R", "flavor": "f"}
URL = "https://api.example.org/api/fleet/certificate"
DNS = {"driver": "ovh", "zone": "example.org", "name": "{server}.bbb"}


def load(certificates, boot=None, dns=DNS):
    boot = {"domain": "bbb.example.org", "cert_url": URL} if boot is None else boot
    document = {
        "cluster": "demo",
        "providers": {"ovh": {"kind": "openstack", "options": {**OPENSTACK, "boot": boot}}},
        "certificates": certificates,
    }
    if dns is not None:
        document["dns"] = dns
    return parse_settings(document)


def test_a_valid_certificates_section_and_its_defaults():
    cert = load({"domain": "bbb.example.org"}).certificates
    assert cert.directory == "https://acme-v02.api.letsencrypt.org/directory"
    assert (cert.renew_before_days, cert.retry_hours, cert.store) == (30, 6, "file")


@pytest.mark.parametrize(
    ("certificates", "boot", "dns", "message"),
    [
        ({"domain": "bbb.example.org"}, None, None, "certificates: needs [dns]"),
        ({"domain": "bbb.other.org"}, None, DNS, "certificates.domain: 'bbb.other.org' is not inside the [dns] zone"),
        ({"domain": "bbb.example.org"}, {"domain": "bbb.example.org"}, DNS, "providers.ovh.options.boot.cert_url: needed"),
        ({"domain": "example.org"}, None, DNS, "providers.ovh.options.boot.domain: 'bbb.example.org' is not covered by the fleet certificate *.example.org"),
        ({"domain": "bbb.example.org", "renew_before_days": 0}, None, DNS, "certificates.renew_before_days"),
        ({"domain": "bbb.example.org", "directory": "http://ca.example/dir"}, None, DNS, "directory must be an https:// URL"),
        ({"domain": "bbb.example.org", "store": "vault"}, None, DNS, "certificates.store"),
        ({"domain": "bbb.example.org", "retry_hours": 10, "max_retry_hours": 5}, None, DNS, "max_retry_hours (5.0) below retry_hours"),
    ],
)  # fmt: skip
def test_invalid_certificates_settings_name_the_field(certificates, boot, dns, message):
    with pytest.raises(ConfigError, match="invalid") as caught:
        load(certificates, boot, dns)
    assert message in str(caught.value)


def test_the_user_data_carries_cert_url_and_no_certificate():
    boot = BootOptions(domain="bbb.example.org", cert_url=URL)
    text = render(boot, name="bbbscale-demo-ovh-1", cluster="demo", hostname="h.bbb.example.org", secret="s")
    assert f"CERT_URL={URL}" in text
    assert "PRIVATE KEY" not in text and "CERTIFICATE" not in text


def test_a_cert_url_that_is_not_https_is_refused():
    with pytest.raises(ValueError, match="cert_url"):
        BootOptions(cert_url="http://api.example.org/fleet/certificate")


def test_the_aws_stages_keep_it_in_the_stacks_secret(monkeypatch):
    from chalicelib.bootstrap import Wiring, with_environment

    monkeypatch.setenv("BBBSCALE_CERTIFICATE_STORE", "secretsmanager")
    monkeypatch.setenv("BBBSCALE_SECRETS_PREFIX", "bbbscale/prod/")
    settings = with_environment(load({"domain": "bbb.example.org"}))
    assert settings.certificates.store == "secretsmanager"
    assert Wiring(settings).certificate_store.secret_id == "bbbscale/prod/fleet-certificate"
