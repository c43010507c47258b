"""Bulk creations: concurrency bound, rate limit, retries on throttling, progress."""

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.providers.bulk import TokenBucket, create_many
from chalicelib.adapters.providers.retry import is_retryable as is_throttled
from chalicelib.ports import ProviderError


def test_concurrency_bound_is_respected_and_reached():
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def create_one(spec):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.03)
        with lock:
            state["now"] -= 1
        return spec

    outcome = create_many(create_one, list(range(12)), concurrency=3, rate_per_second=1000, retries=0)
    assert outcome.created == list(range(12)) and state["max"] == 3


def test_rate_limit_is_respected():
    starts = []
    outcome = create_many(
        lambda s: starts.append(time.monotonic()) or s,
        list(range(8)),
        concurrency=8,
        rate_per_second=20,
        retries=0,
    )
    assert len(outcome.created) == 8
    starts.sort()
    # Burst of one: the k-th call starts no earlier than k/rate after the first (small timer slack).
    for k, at in enumerate(starts):
        assert at - starts[0] >= k / 20 - 0.01


def test_token_bucket_with_a_driven_clock():
    clock = {"t": 0.0}
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock["t"] += seconds

    bucket = TokenBucket(rate=10, clock=lambda: clock["t"], sleep=sleep)
    for _ in range(5):
        bucket.acquire()
    assert clock["t"] == pytest.approx(0.4) and all(w == pytest.approx(0.1) for w in waits)


def test_throttled_calls_are_retried_with_jittered_backoff_then_succeed():
    calls = {}
    delays = []

    def create_one(spec):
        calls[spec] = calls.get(spec, 0) + 1
        if calls[spec] <= 2:
            raise ProviderError("RequestLimitExceeded", retryable=True)
        return spec

    specs = [f"s{n}" for n in range(20)]
    outcome = create_many(
        create_one,
        specs,
        concurrency=4,
        rate_per_second=10_000,
        retries=3,
        backoff_seconds=0.5,
        sleep=lambda s: delays.append(s),
    )
    assert outcome.created == specs and outcome.failed == [] and set(calls.values()) == {3}
    assert outcome.attempts == 60 and len(delays) >= 40  # the token bucket may sleep a little too
    retry_waits = sorted(delays)[-40:]
    # Full jitter: each wait is random in [0, 0.5 * 2**n]; 40 of them are not all alike.
    assert all(0 <= d <= 1.0 for d in retry_waits) and len({round(d, 6) for d in retry_waits}) > 10


def test_non_retryable_errors_fail_at_once_and_exhausted_retries_fail():
    calls = {"quota": 0, "busy": 0}

    def create_one(spec):
        calls[spec] += 1
        raise ProviderError(spec, retryable=(spec == "busy"))

    outcome = create_many(
        create_one,
        ["quota", "busy"],
        concurrency=1,
        rate_per_second=1000,
        retries=2,
        backoff_seconds=0,
        sleep=lambda s: None,
    )
    assert outcome.created == [] and [spec for spec, _ in outcome.failed] == ["quota", "busy"]
    assert calls == {"quota": 1, "busy": 3}


def test_throttling_recognised_from_http_and_aws_errors():
    from botocore.exceptions import ClientError

    class Http429(Exception):
        status_code = 429

    aws = ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "RunInstances")
    quota = ClientError({"Error": {"Code": "InstanceLimitExceeded", "Message": "quota"}}, "RunInstances")
    assert is_throttled(Http429()) and is_throttled(aws) and not is_throttled(quota)
    assert not is_throttled(ValueError("bad image"))


def test_progress_is_reported_once_per_spec():
    seen = []
    create_many(
        lambda s: s,
        list(range(5)),
        concurrency=2,
        rate_per_second=1000,
        retries=0,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(n, 5) for n in range(1, 6)]


def test_bad_arguments_and_empty_input():
    with pytest.raises(ValueError):
        create_many(lambda s: s, [1], concurrency=0, rate_per_second=1, retries=0)
    assert create_many(lambda s: s, [], concurrency=1, rate_per_second=1, retries=0).created == []


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["ok", "fail", "throttle-once"]), max_size=12), st.integers(1, 4))
def test_every_spec_ends_exactly_once_in_order(plan, concurrency):
    seen = set()
    lock = threading.Lock()

    def create_one(item):
        index, kind = item
        with lock:
            first = index not in seen
            seen.add(index)
        if kind == "fail":
            raise ProviderError("no", retryable=False)
        if kind == "throttle-once" and first:
            raise ProviderError("slow down", retryable=True)
        return index

    specs = list(enumerate(plan))
    outcome = create_many(
        create_one, specs, concurrency, 10_000, retries=1, backoff_seconds=0, sleep=lambda s: None
    )
    assert outcome.created == [i for i, kind in specs if kind != "fail"]
    assert [spec[0] for spec, _ in outcome.failed] == [i for i, kind in specs if kind == "fail"]
