"""Certificates for tests that do not need a CA (the route, the tick's certificate step over a fake
authority), and a hand-written fake of our `CertificateAuthority` port that records what it was asked.
The real port is tested against pebble (tests/integration/test_certificate_pebble.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.adapters.acme.client import certificate_of, relative_name
from chalicelib.domain.certificate import AcmeAccount, FleetCertificate, PendingOrder
from chalicelib.ports import CertificateError


def self_signed(domain: str, not_before: dt.datetime | None = None, days: float = 90) -> FleetCertificate:
    """A certificate for `domain` (e.g. "*.bbb.example.org") as the store keeps one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    start = not_before or dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate_of(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


class FakeAuthority:
    """Our `CertificateAuthority` port in memory: `asked` lists each call; `fail_at` names a step
    ("account", "order", "complete") that raises; `slow` makes `complete` answer "not done yet" that many
    times; the certificate it issues for `*.<domain>` starts at `now()` and lasts `days`."""

    def __init__(self, now, days: float = 90, fail_at: str | None = None, slow: int = 0):
        self.now, self.days, self.fail_at, self.slow = now, days, fail_at, slow
        self.asked: list[str] = []
        self.domain = ""

    def _step(self, name: str) -> None:
        self.asked.append(name)
        if self.fail_at == name:
            raise CertificateError(f"acme {name} failed: rateLimited: too many certificates")

    def account(self, existing):
        self._step("account")
        return existing or AcmeAccount("https://ca.invalid/dir", "https://ca.invalid/acct/1", key="{}")

    def order(self, account, domain, zone, now):
        self._step("order")
        self.domain = domain
        record = relative_name(f"_acme-challenge.{domain}", zone)
        return PendingOrder(order="{}", key="k", record=record, values=("token-value",), started_at=now)

    def complete(self, account, pending, seconds):
        self._step("complete")
        if self.slow > 0:
            self.slow -= 1
            return replace(pending, answered=True)
        return self_signed(f"*.{self.domain}", self.now(), self.days)
