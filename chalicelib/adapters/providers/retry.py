"""When a provider call may be sent again, and how long to wait first (tenacity, with full jitter).

Retrying is only safe when the first attempt surely did nothing, or when doing it twice is harmless:
- an answer that says "not done": HTTP 429 (throttled), 502/503/504 (the gateway or service did not
  take the request), a provider's throttling code (EC2 `RequestLimitExceeded`);
- a connection that never opened (refused, connect timeout): the request never left;
- anything transient (read timeout, reset, HTTP 500) on an *idempotent* call: reads, start/stop/destroy
  of a named VM, or a create made idempotent by a client token (EC2, Outscale).
A create without a token whose answer was lost (read timeout, 500) is NOT retried: the VM may exist, and
a second call would start a second one; reconciliation adopts the first by its name and tags instead.

Delays are `wait_random_exponential` (AWS's "full jitter"): a random wait up to `first * 2**n`, capped,
so the workers of a bulk creation throttled together do not come back together. The Scalelite client
retries through tenacity too (adapters/scalelite/transport.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from chalicelib.ports import ProviderError

log = logging.getLogger("bbbscale.providers")

#: Error codes providers use for throttling (AWS: RequestLimitExceeded/Throttling; OSC: 10xx "too many").
THROTTLE_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequests", "429"}
)
#: Statuses that mean the request was not carried out, whatever the method.
NOT_DONE = frozenset({429, 502, 503, 504})


def never_sent(error: BaseException) -> bool:
    """True when the request surely never reached the API: connection refused or connect timeout."""
    import requests
    import urllib3

    if isinstance(
        error, (requests.ConnectTimeout, ConnectionRefusedError, urllib3.exceptions.NewConnectionError)
    ):
        return True
    cause = error.args[0] if isinstance(error, requests.ConnectionError) and error.args else None
    return isinstance(getattr(cause, "reason", cause), urllib3.exceptions.NewConnectionError)


def safe_to_retry(*, idempotent: bool, status: int | None = None, error: BaseException | None = None) -> bool:
    """Whether a failed call may be sent again (see module doc): by HTTP status, else by network error."""
    if status is not None:
        return status in NOT_DONE or (idempotent and status >= 500)
    if error is not None:
        return idempotent or never_sent(error)
    return False


def is_retryable(error: BaseException) -> bool:
    """True for errors worth another attempt: ProviderError(retryable=True), HTTP 429, or a throttling
    code. Adapters decide `retryable` when they translate an error (they know whether the call was
    idempotent); foreign errors are retried only when they say "throttled"."""
    if isinstance(error, ProviderError):
        return error.retryable
    status = getattr(error, "status_code", None) or getattr(error, "http_code", None)
    if status == 429:
        return True
    code = getattr(error, "response", None)
    if isinstance(code, dict):  # botocore ClientError
        if code.get("Error", {}).get("Code") in THROTTLE_CODES:
            return True
    return any(mark in str(error) for mark in ("RequestLimitExceeded", "429 Too Many", "Throttling"))


def retrying(
    retries: int,
    first_delay: float,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    before: Callable[[], None] | None = None,
) -> Retrying:
    """A tenacity policy: up to `retries` more attempts on `is_retryable` errors, each after a random
    wait up to `first_delay * 2**n` (capped at `max_delay`); the last error is re-raised as it was.
    `before()` runs before every attempt (the bulk creator takes a rate-limit token there)."""
    return Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=wait_random_exponential(multiplier=first_delay, max=max_delay),
        retry=retry_if_exception(is_retryable),
        before=(lambda state: before()) if before else (lambda state: None),
        before_sleep=lambda state: log.info(
            "provider call failed (%s), attempt %d; trying again",
            state.outcome.exception() if state.outcome else None,  # tenacity sets it before sleeping
            state.attempt_number,
        ),
        sleep=sleep,
        reraise=True,
    )
