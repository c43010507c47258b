"""Closure-webhook requests as a sender would make them, signed independently of chalicelib."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

SECRET = "closure-webhook-secret-0123456789"
ANNOUNCEMENT = {
    "id": "closure-2099-11-24-zone-b",
    "starts_at": "2099-11-24T08:00:00+01:00",
    "ends_at": "2099-11-27T18:00:00+01:00",
    "expected_users": 12000,
    "zone": "B",
    "note": "storm",
}


def signed(
    body: bytes,
    secret: str = SECRET,
    at: float | None = None,
    method: str = "POST",
    path: str = "/hooks/closure",
) -> dict:
    """Headers signed independently of chalicelib:
    HMAC-SHA256(secret, timestamp + "." + METHOD + "." + path + "." + body)."""
    timestamp = str(int(time.time() if at is None else at))
    message = f"{timestamp}.{method}.{path}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Bbbscale-Timestamp": timestamp,
        "X-Bbbscale-Signature": f"sha256={digest}",
    }


def encode(document) -> bytes:
    return json.dumps(document).encode()
