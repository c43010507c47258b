"""A real ACME CA on loopback: Let's Encrypt's test server `pebble` and its DNS test server
`pebble-challtestsrv` (Debian packages), each on ports the OS picked, and a `Dns` port that writes TXT
records through challtestsrv's management API (/set-txt, /clear-txt), so pebble's DNS-01 validation
reads what our code published through the port.

Debian's pebble ships no test configuration or certificates: the HTTPS certificate of pebble's own
directory is made here (a throwaway CA, `ca_path`), and the CA pebble issues with is fetched from its
management API (`roots`). PEBBLE_VA_NOSLEEP=1 (no random validation delays), PEBBLE_WFE_NONCEREJECT=0
(no random bad-nonce answers) and PEBBLE_AUTHZREUSE=0 (every order is validated anew: a renewal proves
the DNS-01 path again).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.ports import DnsError

MISSING = [tool for tool in ("pebble", "pebble-challtestsrv") if shutil.which(tool) is None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """(CA PEM, leaf PEM, leaf key) for pebble's HTTPS listeners on 127.0.0.1/localhost."""
    now = dt.datetime.now(dt.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bbbscale test CA for pebble's HTTPS")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_key_pem(leaf_key))
    return paths


class ChallTestDns:
    """Our `Dns` port over challtestsrv's management API: TXT sets only (what DNS-01 needs). `zone` is
    the zone the names are relative to; `log` keeps each call, for the tests to read."""

    def __init__(self, management: str, zone: str):
        self.management, self.zone = management, zone
        self.log: list[tuple[str, str, tuple[str, ...]]] = []

    def _fqdn(self, name: str) -> str:
        return f"{name}.{self.zone}." if name else f"{self.zone}."

    def _post(self, path: str, body: dict) -> None:
        answer = requests.post(f"{self.management}{path}", data=json.dumps(body), timeout=5)
        if answer.status_code != 200:
            raise DnsError(f"dns challtestsrv {path} in {self.zone}: HTTP {answer.status_code}")

    def set_txt(self, name: str, values: list[str], ttl: int = 60) -> None:
        self.log.append(("set_txt", name, tuple(values)))
        self._post("/clear-txt", {"host": self._fqdn(name)})
        for value in values:
            self._post("/set-txt", {"host": self._fqdn(name), "value": value})

    def delete_txt(self, name: str) -> None:
        self.log.append(("delete_txt", name, ()))
        self._post("/clear-txt", {"host": self._fqdn(name)})

    def records(self):
        return []

    def create(self, record):  # pragma: no cover - servers' records are not this fake's job
        raise DnsError("challtestsrv: address records are not made here")

    delete = create

    def calls(self, operation, records):
        return []


class Pebble:
    """A running pebble + challtestsrv. `directory` is the ACME directory URL, `ca_path` the CA of its
    HTTPS, `dns` our port over challtestsrv."""

    def __init__(self, directory: str, ca_path: Path, management: str, dns: ChallTestDns):
        self.directory, self.ca_path, self.management, self.dns = directory, ca_path, management, dns

    def root(self) -> str:
        """The root that signs pebble's certificates (random per run), from its management API."""
        answer = requests.get(f"{self.management}/roots/0", verify=str(self.ca_path), timeout=5)
        answer.raise_for_status()
        return answer.text


def _wait(url: str, verify, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, verify=verify, timeout=2)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _start(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


@contextmanager
def running_pebble(workdir: Path, zone: str, validity_seconds: int = 90 * 86400):
    """pebble and challtestsrv on loopback, stopped on exit; certificates valid `validity_seconds`."""
    dns_port, chall_admin, acme_port, acme_admin = (free_port() for _ in range(4))
    ca_path, cert, key = make_tls(workdir)
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{acme_admin}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": validity_seconds,
        }
    }
    (workdir / "pebble.json").write_text(json.dumps(config))
    chall = [
        "pebble-challtestsrv",
        "-dns01", f"127.0.0.1:{dns_port}",
        "-management", f"127.0.0.1:{chall_admin}",
        "-http01", "", "-https01", "", "-tlsalpn01", "",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
    }
    pebble_cmd = ["pebble", "-config", str(workdir / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"]
    processes = [_start(chall, workdir / "challtestsrv.log")]
    try:
        processes.append(_start(pebble_cmd, workdir / "pebble.log", env))
        _wait(f"http://127.0.0.1:{chall_admin}/", None)
        directory = f"https://127.0.0.1:{acme_port}/dir"
        _wait(directory, str(ca_path))
        dns = ChallTestDns(f"http://127.0.0.1:{chall_admin}", zone)
        yield Pebble(directory, ca_path, f"https://127.0.0.1:{acme_admin}", dns)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
