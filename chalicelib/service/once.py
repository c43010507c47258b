"""At most once per request: Slack retries a slash command it did not see answered within 3 s, and a
Rocket.Chat outgoing webhook may be delivered twice. The first answer is kept (Powertools idempotency,
on the DynamoDB table on AWS and the SQLite state file locally) and given again to the repeat, so a
`reserve` or `floor` is never applied twice."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

EXPIRES_SECONDS = 3600
# A delivery without the platform's own id (a Rocket.Chat body with no `message_id`, a slash command
# with no `trigger_id`: a hand-made client, the docs' curl) is told from a retry by its body alone, and an
# operator's deliberate repeat (`freeze`, `unfreeze`, `freeze`) has the same body: remembered only this
# long, so such a repeat is answered from the cache (and not acted on) for half a minute, not an hour.
RETRY_SECONDS = 30


def request_key(platform: str, body: bytes, request_id: str | None = None) -> dict:
    """What identifies one delivery: the platform's own id when it has one, else the raw body's hash
    (a Slack retry carries the same body, trigger_id included)."""
    return {"platform": platform, "id": request_id or hashlib.sha256(body).hexdigest()}


def expires_for(delivery_id: object) -> int:
    """How long a delivery is remembered: an hour when the platform gave it its own id (a retry carries
    the same id, a new message another), `RETRY_SECONDS` when only its body tells it apart."""
    return EXPIRES_SECONDS if delivery_id else RETRY_SECONDS


def once(layer, key: dict, work: Callable[[], dict], expires_seconds: int = EXPIRES_SECONDS) -> dict:
    """`work()` the first time `key` is seen within `expires_seconds`; the stored answer after that.
    `layer`: the Powertools persistence layer the bootstrap built for the state backend."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=layer,
        config=IdempotencyConfig(expires_after_seconds=expires_seconds),
    )
    def run(request: dict) -> dict:
        return work()

    return run(request=key)


def first_delivery(layer, platform: str, headers: dict) -> bool | None:
    """False when this exact signed request (same signature and timestamp) was already received: a
    replay, refused rather than answered from the cache. A Slack retry says so (X-Slack-Retry-Num) and
    is let through to `once`, which answers it with the first answer without acting twice. None when
    the request carries no signature to remember. Atomic: the idempotency layer's conditional write."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signature, stamp = lowered.get("x-slack-signature"), lowered.get("x-slack-request-timestamp")
    if not signature or not stamp or lowered.get("x-slack-retry-num"):
        return None
    mine = uuid.uuid4().hex
    seen = once(
        layer,
        {
            "platform": f"{platform}-signature",
            "id": hashlib.sha256(f"{stamp}:{signature}".encode()).hexdigest(),
        },
        lambda: {"first": mine},
    )
    return seen.get("first") == mine
