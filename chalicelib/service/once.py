"""At most once per request: Slack retries a slash command it did not see answered within 3 s, and a
Rocket.Chat outgoing webhook may be delivered twice. The first answer is kept (Powertools idempotency,
on the DynamoDB table on AWS and the SQLite state file locally) and given again to the repeat, so a
`reserve` or `floor` is never applied twice."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

EXPIRES_SECONDS = 3600


def request_key(platform: str, body: bytes, request_id: str | None = None) -> dict:
    """What identifies one delivery: the platform's own id when it has one, else the raw body's hash
    (a Slack retry carries the same body, trigger_id included)."""
    return {"platform": platform, "id": request_id or hashlib.sha256(body).hexdigest()}


def once(runtime, key: dict, work: Callable[[], dict]) -> dict:
    """`work()` the first time `key` is seen within the hour; the stored answer after that."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    from chalicelib.adapters.state.idempotency import persistence_layer

    layer = persistence_layer(runtime.settings)

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=layer,
        config=IdempotencyConfig(expires_after_seconds=EXPIRES_SECONDS),
    )
    def run(request: dict) -> dict:
        return work()

    return run(request=key)
