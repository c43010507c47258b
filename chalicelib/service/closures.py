"""School-closure announcements: signed webhook posts that become capacity reservations.

A closure announcement says "from starts_at to ends_at, expect N users" (schools closed, classes move
online). The sender signs each request with a shared secret; we verify it, validate the body, and store
a `Reservation` idempotently on the announcement's `id`: the same id with the same body is a harmless
retry (200), the same id with another body is a conflict (409) and changes nothing.

Pure apart from the state store passed in; the clock is an argument.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from chalicelib.ports import BbbscaleError, ConflictError, HistoryEntry, Reservation, StateStore

if TYPE_CHECKING:
    from chalicelib.service.announcement import Announcement

#: Signed requests older or newer than this are refused, so a captured request cannot be replayed later.
MAX_SKEW_SECONDS = 300
#: Announcements are a few hundred bytes; anything much larger is not one.
MAX_BODY_BYTES = 16 * 1024
SIGNATURE_PREFIX = "sha256="


class SignatureError(BbbscaleError):
    """The request is not signed, signed with another secret, or signed too long ago (HTTP 401)."""


class InvalidRequest(BbbscaleError):
    """The body is not a valid announcement; the message starts with the offending field (HTTP 400)."""


class NotFound(BbbscaleError):
    """No reservation has that id (HTTP 404)."""


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The `X-Bbbscale-Signature` value for `METHOD path` with `body` sent at `timestamp` (unix seconds,
    as sent): HMAC-SHA256 over `timestamp.METHOD.path.body`. Method and path are signed so that a
    captured request cannot be replayed to another route, method or id within its 300 s (issue 23)."""
    message = b".".join((timestamp.encode(), method.upper().encode(), path.encode(), body))
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    request: tuple[str, str, bytes],
    now: datetime,
) -> None:
    """Return if `signature` is ours over `timestamp.METHOD.path.body` (`request` = (method, path,
    raw body)) and the timestamp is within MAX_SKEW_SECONDS of `now`; raise SignatureError otherwise.
    The message never echoes the secret."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Bbbscale-Timestamp or X-Bbbscale-Signature")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("X-Bbbscale-Timestamp is not unix seconds")
    if abs(now.timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise SignatureError("stale X-Bbbscale-Timestamp (more than 300 s from now)")
    # compare_digest over the whole header value: constant time, and a missing prefix simply mismatches
    method, path, body = request
    expected = sign(secret, timestamp, method, path, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise SignatureError("signature mismatch")


def body_hash(document: dict) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces): the same announcement hashes the same
    whatever the sender's key order or spacing."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_announcement(body: bytes, now: datetime, timezone: str) -> tuple[Announcement, str]:
    """Validate a raw body; return the announcement (times made aware) and its body hash.
    Raise InvalidRequest naming the field."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest(f"body: larger than {MAX_BODY_BYTES} bytes")
    from chalicelib.untrusted_json import UntrustedJsonError
    from chalicelib.untrusted_json import loads as untrusted_loads

    try:
        document = untrusted_loads(body)
    except UntrustedJsonError as error:  # deep nesting included: 400, never a RecursionError's 500
        raise InvalidRequest(f"body: {error}") from None
    if not isinstance(document, dict):
        raise InvalidRequest("body: expected a JSON object")
    from pydantic import ValidationError  # here, not at import: `import app` stays light

    from chalicelib.service.announcement import Announcement, field_error

    try:
        announcement = Announcement.model_validate(document)
    except ValidationError as error:
        raise InvalidRequest(field_error(error)) from None
    zone = ZoneInfo(timezone)
    starts, ends = (
        t if t.tzinfo else t.replace(tzinfo=zone) for t in (announcement.starts_at, announcement.ends_at)
    )
    if ends <= starts:
        raise InvalidRequest("ends_at: must be after starts_at")
    if ends <= now:
        raise InvalidRequest("ends_at: already in the past")
    if ends - starts > timedelta(days=366):
        raise InvalidRequest("ends_at: a reservation lasts at most 366 days")
    return announcement.model_copy(update={"starts_at": starts, "ends_at": ends}), body_hash(document)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the webhook answers: the stored reservation and whether this request created it."""

    reservation: Reservation
    created: bool


def accept(
    store: StateStore, body: bytes, now: datetime, timezone: str, signed_at: str | None = None
) -> Receipt:
    """Store the announcement as a reservation, once. A retry with the same body returns the stored
    one (created=False); another body under a known id raises ConflictError and changes nothing.
    A request signed (`signed_at`, the verified timestamp) before its id was cancelled is a replay of
    what the cancel undid: refused with ConflictError, so a captured POST cannot bring it back."""
    announcement, digest = parse_announcement(body, now, timezone)
    cancelled_at = store.closures.cancelled_at(announcement.id)
    if cancelled_at is not None and signed_at is not None and int(signed_at) <= cancelled_at:
        raise ConflictError(
            f"reservation {announcement.id!r} was cancelled after this request was signed: replay refused"
        )
    candidate = Reservation(
        id=announcement.id,
        starts_at=announcement.starts_at,
        ends_at=announcement.ends_at,
        expected_users=announcement.expected_users,
        zone=announcement.zone,
        note=announcement.note,
        source="webhook",
        body_hash=digest,
        created_at=now,
    )
    stored, created = store.reservations.add(candidate)
    if not created and stored.body_hash != digest:
        raise ConflictError(f"reservation {announcement.id!r} already exists with another body")
    if created:
        store.history.record(
            HistoryEntry(
                at=now,
                kind="notice",
                summary=f"closure {stored.id}: reserved capacity for {stored.expected_users} users "
                f"from {stored.starts_at.isoformat()} to {stored.ends_at.isoformat()}",
                detail={"reservation": stored.id, "source": "webhook"},
                actor="webhook",
            )
        )
    return Receipt(stored, created)


def cancel(store: StateStore, reservation_id: str, now: datetime) -> None:
    """Cancel one reservation by id; raise NotFound if there is none (a repeated cancel is a 404)."""
    if not store.reservations.cancel(reservation_id):
        raise NotFound(f"no reservation {reservation_id!r}")
    # Remembered for as long as a request signed before the cancel could still pass the signature
    # check (MAX_SKEW_SECONDS, twice over for clock skew): older entries are dropped.
    at = int(now.timestamp())
    store.closures.note_cancel(reservation_id, at, forget_before=at - 2 * MAX_SKEW_SECONDS)
    store.history.record(
        HistoryEntry(
            at=now,
            kind="notice",
            summary=f"closure {reservation_id}: reservation cancelled",
            detail={"reservation": reservation_id},
            actor="webhook",
        )
    )


def reservation_json(reservation: Reservation) -> dict:
    """The public JSON form of a reservation (the body hash is an internal detail)."""
    return {
        "id": reservation.id,
        "starts_at": reservation.starts_at.isoformat(),
        "ends_at": reservation.ends_at.isoformat(),
        "expected_users": reservation.expected_users,
        "zone": reservation.zone,
        "note": reservation.note,
        "source": reservation.source,
        "created_at": reservation.created_at.isoformat() if reservation.created_at else None,
    }
