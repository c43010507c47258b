"""At most once per request: Slack retries a slash command it did not see answered within 3 s, and a
Rocket.Chat outgoing webhook may be delivered twice. The first answer is kept (Powertools idempotency,
on the DynamoDB table on AWS and the SQLite state file locally) and given again to the repeat, so a
`reserve` or `floor` is never applied twice."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

EXPIRES_SECONDS = 3600


def request_key(platform: str, body: bytes, request_id: str | None = None) -> dict:
    """What identifies one delivery: the platform's own id when it has one, else the raw body's hash
    (a Slack retry carries the same body, trigger_id included)."""
    return {"platform": platform, "id": request_id or hashlib.sha256(body).hexdigest()}


def once(layer, key: dict, work: Callable[[], dict]) -> dict:
    """`work()` the first time `key` is seen within the hour; the stored answer after that. `layer`: the
    Powertools persistence layer the bootstrap built for the state backend."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=layer,
        config=IdempotencyConfig(expires_after_seconds=EXPIRES_SECONDS),
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
