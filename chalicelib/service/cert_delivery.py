"""Handing the fleet's certificate to one of our servers (`GET /fleet/certificate`, the agreed interface
of docs/certificates.md): the server proves who it is with a short-lived token made from the BBB secret
it already has, so neither the key nor a long-lived credential ever sits in its user data.

token = `<server name>.<expiry unix seconds>.<hex HMAC-SHA256(BBB secret, "bbbscale-cert:" + name + ":"
+ expiry)>`, the BBB secret being HMAC-SHA256(server secret key, name) (service/keys.py), which bbbscale
recomputes. A token is refused (401) when it is malformed, forged, expired or too far ahead (more than
`token_max_seconds`, plus a minute for the VM's clock), or names a server this cluster does not run.
The same function serves the Chalice route (app.py) and `chalice local` on hosts without AWS.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.fleet import RUNNING, Server
from chalicelib.ports import CertificateStore

#: What the MAC covers before the name and expiry: a token is good for this and nothing else.
CONTEXT = "bbbscale-cert:"
#: The VM's clock may run this far ahead of ours.
CLOCK_SKEW_SECONDS = 60
_TOKEN = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]{0,62})\.(?P<expiry>[0-9]{1,12})\.(?P<mac>[0-9a-f]{64})$")


def mint(secret: str, name: str, expiry: int) -> str:
    """A server's token (what its first boot computes with openssl; the tests use this)."""
    mac = hmac.new(secret.encode(), f"{CONTEXT}{name}:{expiry}".encode(), hashlib.sha256).hexdigest()
    return f"{name}.{expiry}.{mac}"


@dataclass(frozen=True, slots=True)
class Answer:
    """The route's answer: HTTP status and JSON body (the body holds the key only with status 200)."""

    status: int
    body: dict


def _refused(why: str) -> Answer:
    return Answer(401, {"error": why})


def verify(
    authorization: str | None,
    cluster: str,
    secret_of: Callable[[str], str],
    servers: Callable[[], Iterable[Server]],
    now: datetime,
    max_seconds: int,
) -> str | Answer:
    """The server name a valid token names, or the 401 Answer saying why not (never which part of the MAC
    was wrong). `secret_of(name)` is the server's BBB secret; `servers()` this cluster's records."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refused("missing token: send Authorization: Bearer <name>.<expiry>.<mac>")
    found = _TOKEN.match(token.strip())
    if found is None:
        return _refused("malformed token")
    name, expiry = found["name"], int(found["expiry"])
    if not name.startswith(f"bbbscale-{cluster}-"):
        return _refused("token of another cluster's server")
    left = expiry - now.timestamp()
    if left <= 0:
        return _refused("expired token")
    if left > max_seconds + CLOCK_SKEW_SECONDS:
        return _refused(f"token expires too far ahead (at most {max_seconds} s)")
    expected = mint(secret_of(name), name, expiry).rpartition(".")[2]
    if not hmac.compare_digest(expected, found["mac"]):
        return _refused("invalid token")
    if not any(s.name == name and s.state in RUNNING for s in servers()):
        return _refused("not a server of this fleet")
    return name


def deliver(
    authorization: str | None,
    cluster: str,
    secret_of: Callable[[str], str],
    servers: Callable[[], Iterable[Server]],
    store: CertificateStore,
    now: datetime,
    max_seconds: int,
) -> Answer:
    """The route: 401 for a refused token, 503 while no certificate is issued, else 200 with the chain
    and its key. The store is read only after the token is accepted."""
    checked = verify(authorization, cluster, secret_of, servers, now, max_seconds)
    if isinstance(checked, Answer):
        return checked
    cert = store.load().certificate
    if cert is None:
        return Answer(503, {"error": "no certificate issued yet: retry later"})
    return Answer(
        200,
        {
            "fullchain": cert.fullchain,
            "privkey": cert.privkey,
            "not_after": cert.not_after.isoformat(),
            "domain": cert.domain,
        },
    )
