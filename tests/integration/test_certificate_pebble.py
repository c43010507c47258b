"""The fleet's wildcard certificate from a real ACME CA: pebble (Let's Encrypt's test server) issues
`*.fleet.example.test` to the capacity check's certificate step (service/certificates.py over the acme
adapter), whose DNS-01 challenge is answered by pebble-challtestsrv with the TXT record our code set
through the `Dns` port; the step renews it 30 days before expiry; then the real haproxy and nginx serve
HTTPS with it in bbb-install v3.0's layout (tests/support/bbb_tls.py names the upstream lines), and a TLS
client verifies the chain against pebble's root for a server's name under the wildcard."""

from __future__ import annotations

import http.client
import socket
import ssl
import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from chalicelib.adapters.acme.client import AcmeAuthority
from chalicelib.adapters.certificates import FileCertificateStore
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.config import CertificateSettings
from chalicelib.domain.certificate import Step
from chalicelib.service.certificates import CertificateKeeper
from tests.support import bbb_tls
from tests.support.pebble import MISSING, running_pebble

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs Debian's {' and '.join(MISSING)}")

ZONE, DOMAIN = "example.test", "fleet.example.test"
SERVER = "bbbscale-t-cloud-1.fleet.example.test"
T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


class WrongTxt:
    """A Dns port that publishes the wrong value: pebble's DNS-01 check must refuse the order."""

    def __init__(self, real):
        self.real, self.zone = real, real.zone

    def set_txt(self, name, values, ttl=60):
        self.real.set_txt(name, ["not-the-key-authorization"], ttl)

    def delete_txt(self, name):
        self.real.delete_txt(name)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory):
    with running_pebble(tmp_path_factory.mktemp("pebble"), ZONE) as running:
        yield running


@pytest.fixture(scope="module")
def issued(pebble, tmp_path_factory):
    """Issue, then renew, through the certificate step, ticking with our own clock."""
    settings = CertificateSettings(
        domain=DOMAIN,
        directory=pebble.directory,
        directory_ca=str(pebble.ca_path),
        propagation_seconds=30,
    )
    path = tmp_path_factory.mktemp("vault") / "certificate.json"
    store, state = FileCertificateStore(str(path)), MemoryStateStore(cluster="t")
    keeper = CertificateKeeper(settings, store, AcmeAuthority(settings), pebble.dns, state.history)
    steps = [keeper.maintain(T0 + timedelta(seconds=s)) for s in (0, 10, 31)]
    first = store.load().certificate
    # the history keeps 30 days: read the first order's entries before the renewal, two months later
    history = list(reversed(state.history.recent(50, kind="certificate")))
    renew_at = first.not_after - timedelta(days=29)
    steps += [keeper.maintain(renew_at), keeper.maintain(renew_at + timedelta(seconds=31))]
    return {
        "steps": steps,
        "first": first,
        "renewed": store.load().certificate,
        "history": history + list(reversed(state.history.recent(50, kind="certificate"))),
        "path": path,
        "dns_log": list(pebble.dns.log),
        "settings": settings,
    }


def test_the_step_orders_waits_for_propagation_then_completes(issued):
    steps = issued["steps"]
    assert [s.step for s in steps] == [Step.ORDER, Step.WAIT, Step.COMPLETE, Step.ORDER, Step.COMPLETE]
    assert all(s.hold is None for s in steps)
    assert "no certificate for *.fleet.example.test yet" in steps[0].note
    assert "answering the challenge after 30 s" in steps[1].note
    assert "expires at" in steps[3].note and "renewed 30 days before" in steps[3].note


def test_dns01_went_through_the_dns_port_and_the_record_is_removed(issued):
    calls = issued["dns_log"]
    assert [(c[0], c[1]) for c in calls] == [
        ("set_txt", "_acme-challenge.fleet"),
        ("delete_txt", "_acme-challenge.fleet"),
    ] * 2
    assert all(len(c[2]) == 1 and len(c[2][0]) == 43 for c in calls if c[0] == "set_txt")  # base64url SHA-256


def test_both_certificates_are_wildcards_and_the_renewal_is_a_new_one(issued):
    first, renewed = issued["first"], issued["renewed"]
    assert first.domain == renewed.domain == "*.fleet.example.test"
    assert renewed.not_after > first.not_after and renewed.fullchain != first.fullchain
    assert renewed.privkey != first.privkey  # a new key per order
    leaf = x509.load_pem_x509_certificate(renewed.fullchain.encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["*.fleet.example.test"]


def test_each_decision_is_in_the_history_and_no_key_is(issued):
    lines = [e.summary for e in issued["history"]]
    assert lines[0].startswith("certificate: no certificate for *.fleet.example.test yet: ordering")
    assert any(
        line.startswith("certificate: DNS-01 record _acme-challenge.fleet set in example.test")
        for line in lines
    )
    assert sum(line.startswith("certificate *.fleet.example.test issued, valid until") for line in lines) == 2
    key_lines = issued["first"].privkey.splitlines()[1:3] + issued["renewed"].privkey.splitlines()[1:3]
    text = repr([(e.summary, e.detail) for e in issued["history"]])
    assert not any(k in text for k in key_lines)


def test_the_vault_file_is_root_only(issued):
    assert stat.S_IMODE(issued["path"].stat().st_mode) == 0o600


def test_a_refused_challenge_is_a_hold_with_its_reason_and_a_later_retry(pebble, tmp_path):
    settings = CertificateSettings(
        domain=DOMAIN, directory=pebble.directory, directory_ca=str(pebble.ca_path), propagation_seconds=0
    )
    store, state = FileCertificateStore(str(tmp_path / "c.json")), MemoryStateStore(cluster="t")
    keeper = CertificateKeeper(settings, store, AcmeAuthority(settings), WrongTxt(pebble.dns), state.history)
    failed = keeper.maintain(T0)
    assert failed.step is Step.ABANDON and failed.hold is not None
    assert (
        "acme challenge refused" in failed.hold
        and "next order not before 2026-12-07 12:00 UTC" in failed.hold
    )
    vault = store.load()
    assert vault.pending is None and vault.certificate is None and vault.renewal.failures == 1
    held = keeper.maintain(T0 + timedelta(hours=1))  # due, but not before retry_hours: no new order
    assert held.step is Step.HOLD and "the last 1 order(s) failed" in held.note
    assert store.load().renewal.last_order_at == T0


def test_an_order_not_done_within_a_ticks_time_is_resumed_by_the_next(pebble, tmp_path):
    settings = CertificateSettings(
        domain=DOMAIN, directory=pebble.directory, directory_ca=str(pebble.ca_path), propagation_seconds=0
    )
    store, state = FileCertificateStore(str(tmp_path / "c.json")), MemoryStateStore(cluster="t")
    hurried = settings.model_copy(
        update={"step_seconds": 0.001}
    )  # the first tick answers, then has no time to poll
    keeper = CertificateKeeper(hurried, store, AcmeAuthority(settings), pebble.dns, state.history)
    first = keeper.maintain(T0)
    assert (
        first.step is Step.COMPLETE and first.note == "certificate: challenge answered, the CA is validating"
    )
    assert store.load().pending is not None and store.load().pending.answered
    assert store.load().certificate is None
    keeper.settings = settings
    done = keeper.maintain(T0 + timedelta(minutes=1))
    assert done.step is Step.COMPLETE and "issued" in done.note
    assert store.load().certificate.domain == "*.fleet.example.test" and store.load().pending is None


def test_haproxy_and_nginx_serve_the_certificate_in_bbb_installs_layout(issued, pebble, tmp_path):
    if bbb_tls.MISSING:
        pytest.skip(f"needs Debian's {' and '.join(bbb_tls.MISSING)}")
    root = pebble.root()
    first, renewed = issued["first"], issued["renewed"]
    bundle = bbb_tls.install_certificate(tmp_path, SERVER, first.fullchain, first.privkey)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "local/certs/privkey.pem").stat().st_mode) == 0o600
    tls = bbb_tls.BbbTls(tmp_path, SERVER)
    tls.start()
    try:
        assert _serial(root, tls.port) == _serial_of(first.fullchain)
        assert _get(root, tls.port) == bbb_tls.LANDING  # http/1.1: haproxy -> nginx :81 (proxy protocol)
        assert _h2_settings(root, tls.port)  # h2: haproxy -> nginx :82 answers the HTTP/2 preface
        with pytest.raises(ssl.SSLCertVerificationError):  # a name the wildcard does not cover
            _serial(root, tls.port, name="bbb.example.test")
        # renewal: the VM fetches the new pair, writes /local/certs, runs the deploy hook, reloads
        bbb_tls.install_certificate(tmp_path, SERVER, renewed.fullchain, renewed.privkey)
        tls.reload_haproxy()

        def renewed_served() -> bool:
            return _serial(root, tls.port) == _serial_of(renewed.fullchain)

        # Once, under a busy machine (the full suite beside other benches), the renewed pair was not
        # served 30 s after the reload signal; a second reload is what an operator's `systemctl reload`
        # would do, and the pair served after it is still the one the VM installed.
        if not _eventually(renewed_served, 15.0):
            tls.reload_haproxy()
            assert _eventually(renewed_served, 30.0), (tls.root / "haproxy.out").read_text(errors="replace")[
                -2000:
            ]
    finally:
        tls.stop()


def _connect(root: str, port: int, name: str, alpn: str) -> ssl.SSLSocket:
    context = bbb_tls.tls_client(root, name, alpn)
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=name)


def _serial(root: str, port: int, name: str = SERVER) -> int:
    with _connect(root, port, name, "http/1.1") as conn:
        der = conn.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def _serial_of(fullchain: str) -> int:
    return x509.load_pem_x509_certificate(fullchain.encode()).serial_number


def _get(root: str, port: int) -> str:
    context = bbb_tls.tls_client(root, SERVER, "http/1.1")
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    conn.sock = _connect(root, port, SERVER, "http/1.1")
    conn.request("GET", "/", headers={"Host": SERVER})
    answer = conn.getresponse()
    assert answer.status == 200
    return answer.read().decode()


def _h2_settings(root: str, port: int) -> bool:
    with _connect(root, port, SERVER, "h2") as conn:
        assert conn.selected_alpn_protocol() == "h2"
        conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        frame = conn.recv(9)
    return len(frame) == 9 and frame[3] == 4  # the server's SETTINGS frame


def _eventually(check, seconds: float = 30.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
