"""bbbscale-cert (infra/image/files/bbbscale-cert) against bbbscale's certificate route on loopback: a
refused token fails at once (retrying cannot help), a plain-http URL off loopback is refused before any
request, and neither the secret nor the key ever reaches its output."""

import subprocess
import sys

import pytest

from tests.integration.firstboot_root import CERT_TOOL, NAME, SECRET, CertRoute


@pytest.fixture
def route():
    served = CertRoute()
    yield served
    served.close()


def fetch(tmp_path, url, secret=SECRET, wait="30"):
    env = {
        "BBBSCALE_ROOT": str(tmp_path),
        "CERT_URL": url,
        "BBBSCALE_SERVER_NAME": NAME,
        "BBB_SECRET": secret,
        "CERT_WAIT_SECONDS": wait,
    }
    return subprocess.run(
        [sys.executable, str(CERT_TOOL), "fetch"], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_token_bbbscale_refuses_fails_at_once_without_retrying(tmp_path, route):
    result = fetch(tmp_path, route.url, secret="not-the-secret")
    assert result.returncode == 1 and "HTTP 401" in result.stderr
    assert len(route.requests) == 1 and not (tmp_path / "local/certs/privkey.pem").exists()
    assert "not-the-secret" not in result.stderr + result.stdout


def test_the_certificate_lands_where_bbb_install_d_expects_it_and_nothing_is_printed(tmp_path, route):
    result = fetch(tmp_path, route.url)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "local/certs/fullchain.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct((tmp_path / "local/certs/privkey.pem").stat().st_mode & 0o777) == "0o600"
    assert "MIIsecretkey" not in result.stderr + result.stdout and SECRET not in result.stderr + result.stdout


def test_plain_http_off_loopback_is_refused_before_any_request(tmp_path):
    result = fetch(tmp_path, "http://bbbscale.example.org/fleet/certificate")
    assert result.returncode == 1 and "must be an https:// URL" in result.stderr


def test_bbbscale_with_no_certificate_yet_is_waited_for_within_the_bound(tmp_path, route):
    route.unavailable = 10**6
    result = fetch(tmp_path, route.url, wait="1")
    assert result.returncode == 1 and "no certificate from bbbscale within 1s" in result.stderr
