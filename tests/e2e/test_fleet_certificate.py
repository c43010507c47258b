"""`GET /fleet/certificate` through Chalice's test client (docs/certificates.md): a server of the fleet
with a token made from its BBB secret gets the chain and key; a missing, forged, expired, too distant or
other server's token is 401; no certificate yet is 503; every answer is `Cache-Control: no-store`, and
the key appears in no log line and no refusal."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest

from chalicelib import fleets
from chalicelib.adapters.certificates import MemoryCertificateStore
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.domain.certificate import CertificateVault
from chalicelib.domain.fleet import ServerState
from chalicelib.service.cert_delivery import mint
from tests.support.builders import server, settings
from tests.support.certs import self_signed

MASTER = "master-key-of-the-test-fleet"
DOMAIN = "bbb.example.org"
SERVING = "bbbscale-t-cheap-1"


def bbb_secret(name: str, master: str = MASTER) -> str:
    """What the VM's user data carries: HMAC-SHA256(server secret key, name) (service/keys.py)."""
    return hmac.new(master.encode(), name.encode(), hashlib.sha256).hexdigest()


def issued(domain: str = f"*.{DOMAIN}"):
    """A certificate as the store keeps one (self-signed here: the route does not care who signed)."""
    return self_signed(domain)


@pytest.fixture
def fleet(monkeypatch):
    """A fleet with [certificates]: one serving and one destroyed server, and an empty vault."""
    config = settings(certificates={"domain": DOMAIN, "store": "memory"})
    store = MemoryStateStore(cluster="t")
    store.servers.save(server(SERVING))
    store.servers.save(server("bbbscale-t-cheap-2", state=ServerState.DESTROYED))
    vault = MemoryCertificateStore()
    secrets = {"BBBSCALE_SERVER_SECRET_KEY": MASTER}
    wiring = Wiring(config, store=store, secret=secrets.get, certificate_store=vault)
    monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: wiring)
    return vault


def ask(client, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.http.get("/fleet/certificate", headers=headers)


def token(name: str = SERVING, ahead: float = 300, secret: str | None = None) -> str:
    return mint(secret or bbb_secret(name), name, int(time.time() + ahead))


def test_a_server_of_the_fleet_gets_the_certificate_and_its_key(client, fleet, caplog):
    cert = issued()
    fleet.save(CertificateVault(certificate=cert))
    with caplog.at_level(logging.DEBUG):
        response = ask(client, token())
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = json.loads(response.body)
    assert body == {
        "fullchain": cert.fullchain,
        "privkey": cert.privkey,
        "not_after": cert.not_after.isoformat(),
        "domain": f"*.{DOMAIN}",
    }
    key_line = cert.privkey.splitlines()[1]
    assert key_line not in caplog.text


def test_no_certificate_yet_is_503_so_the_first_boot_retries(client, fleet):
    response = ask(client, token())
    assert response.status_code == 503 and response.headers["Cache-Control"] == "no-store"
    assert "no certificate issued yet" in json.loads(response.body)["error"]


@pytest.mark.parametrize(
    ("case", "presented"),
    [
        ("missing", None),
        ("not bearer", "Basic abc"),
        ("malformed", "bbbscale-t-cheap-1.notanumber.abc"),
        ("forged", lambda: token(secret="0" * 64)),
        ("expired", lambda: token(ahead=-1)),
        ("too far ahead", lambda: token(ahead=3600)),
        (
            "another server's secret",
            lambda: mint(bbb_secret("bbbscale-t-cheap-3"), SERVING, int(time.time()) + 60),
        ),
        ("a destroyed server", lambda: token("bbbscale-t-cheap-2")),
        ("a server we never made", lambda: token("bbbscale-t-cheap-9")),
        ("another cluster", lambda: token("bbbscale-other-cheap-1")),
        (
            "another fleet's key",
            lambda: mint(bbb_secret(SERVING, "another-key"), SERVING, int(time.time()) + 60),
        ),
    ],
)
def test_refused_tokens_are_401_and_say_nothing_of_the_key(client, fleet, case, presented):
    cert = issued()
    fleet.save(CertificateVault(certificate=cert))
    response = ask(client, presented() if callable(presented) else presented)
    assert response.status_code == 401, case
    assert response.headers["Cache-Control"] == "no-store"
    assert set(json.loads(response.body)) == {"error"}
    assert b"PRIVATE KEY" not in response.body and b"CERTIFICATE" not in response.body


def test_without_certificates_configured_the_route_is_503(client, monkeypatch):
    wiring = Wiring(settings(), store=MemoryStateStore(cluster="t"), secret={}.get)
    monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: wiring)
    response = ask(client, token())
    assert response.status_code == 503 and "not configured" in json.loads(response.body)["error"]


def test_an_unreadable_store_is_503_in_one_line_without_the_token_or_key(client, fleet, monkeypatch):
    from chalicelib.ports import CertificateError

    def broken():
        raise CertificateError(
            "certificate store /var/lib/bbbscale/certificate.json: cannot read: Permission denied"
        )

    monkeypatch.setattr(fleet, "load", broken)
    presented = token()
    response = ask(client, presented)
    assert response.status_code == 503 and response.headers["Cache-Control"] == "no-store"
    error = json.loads(response.body)["error"]
    assert "cannot read: Permission denied" in error and presented not in error
