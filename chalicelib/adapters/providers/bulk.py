"""Bulk creations: many VMs at once, in parallel, within a provider's rate limit, retrying throttling.

A scale-up of 100 servers through an API answering in a second would take minutes one call at a time;
providers also throttle (HTTP 429, EC2's RequestLimitExceeded). `create_many` runs at most `concurrency`
calls at once, starts at most `rate_per_second` calls per second (a token bucket shared by the workers),
and retries a create whose failure is safe to retry (retry.py: throttled, never sent, or idempotent)
through tenacity with full jitter. Other errors are not retried: a quota or bad-image error will not
heal by asking again, and a create whose answer was lost might have made a VM.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from chalicelib.adapters.providers.retry import retrying

Spec = TypeVar("Spec")
Result = TypeVar("Result")


class TokenBucket:
    """At most `rate` acquisitions per second on average, `burst` at once; thread-safe and blocking.

    The clock and sleep are inputs so tests can drive time."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else 1.0)
        self._tokens = self.burst
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a token is available, then take it."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1 - 1e-9:  # float slack: 0.1 s * 10/s may sum to 0.999...
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


@dataclass
class BulkOutcome(Generic[Spec, Result]):
    """What came of a bulk run: results in the order of the specs that succeeded, and the failures."""

    created: list[Result] = field(default_factory=list)
    failed: list[tuple[Spec, BaseException]] = field(default_factory=list)
    attempts: int = 0


def create_many(
    create_one: Callable[[Spec], Result],
    specs: Sequence[Spec],
    concurrency: int,
    rate_per_second: float,
    retries: int,
    on_progress: Callable[[int, int], None] | None = None,
    *,
    backoff_seconds: float = 1.0,
    max_backoff_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> BulkOutcome[Spec, Result]:
    """Call `create_one(spec)` for every spec: at most `concurrency` at once, at most `rate_per_second`
    calls started per second (retries included), each retryable failure retried up to `retries` times
    after a random wait up to `backoff_seconds * 2**attempt` (capped). `on_progress(done, total)` is
    called after each spec finishes, success or final failure. Never raises for a failed spec: see
    `BulkOutcome.failed`."""
    if concurrency < 1 or retries < 0:
        raise ValueError("concurrency must be >= 1 and retries >= 0")
    total = len(specs)
    outcome: BulkOutcome[Spec, Result] = BulkOutcome()
    if not total:
        return outcome
    bucket = TokenBucket(rate_per_second, burst=1.0, sleep=sleep)
    lock = threading.Lock()
    results: list[tuple[bool, Any]] = [(False, None)] * total
    done = 0

    def attempt() -> None:
        bucket.acquire()
        with lock:
            outcome.attempts += 1

    def run(index: int) -> None:
        nonlocal done
        policy = retrying(retries, backoff_seconds, max_backoff_seconds, sleep=sleep, before=attempt)
        try:
            results[index] = (True, policy(create_one, specs[index]))
        except Exception as error:  # noqa: BLE001 - every failure is reported, none escapes a worker
            results[index] = (False, error)
        with lock:
            done += 1
            if on_progress:
                on_progress(done, total)

    with ThreadPoolExecutor(max_workers=min(concurrency, total)) as pool:
        list(pool.map(run, range(total)))
    for spec, (ok, value) in zip(specs, results):
        if ok:
            outcome.created.append(value)
        else:
            outcome.failed.append((spec, value))
    return outcome
