"""BBB/Scalelite API checksums (docs/scalelite-and-bbb.md).

checksum = lowercase hex of hash(callName + query string without `checksum` + shared secret). BBB picks
the hash by the checksum's length (40 sha1, 64 sha256, 96 sha384, 128 sha512); Scalelite accepts sha1,
sha256 and sha512 and compares exactly, so we always send lowercase hex.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

ALGORITHMS = {"sha1": 40, "sha256": 64, "sha512": 128}
_BY_LENGTH = {length: name for name, length in ALGORITHMS.items()}


def checksum(call: str, query: str, secret: str, algorithm: str = "sha256") -> str:
    """The checksum of one call, e.g. checksum("getMeetings", "", secret)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported checksum algorithm {algorithm!r}; choose one of {sorted(ALGORITHMS)}")
    return hashlib.new(algorithm, (call + query + secret).encode("utf-8")).hexdigest()


def signed_query(call: str, params: dict[str, str] | None, secret: str, algorithm: str = "sha256") -> str:
    """The full query string of a call, `checksum` last, as BBB expects it."""
    query = urlencode(params or {})
    digest = checksum(call, query, secret, algorithm)
    return f"{query}&checksum={digest}" if query else f"checksum={digest}"


def verify(
    call: str,
    query_without_checksum: str,
    given: str,
    secret: str,
    accepted: tuple[str, ...] = ("sha1", "sha256", "sha512"),
) -> bool:
    """Server side (the local Scalelite): pick the hash by the checksum's length, compare exactly."""
    algorithm = _BY_LENGTH.get(len(given))
    if algorithm is None or algorithm not in accepted:
        return False
    return hmac.compare_digest(checksum(call, query_without_checksum, secret, algorithm), given)
