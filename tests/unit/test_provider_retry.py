"""When a provider call may be sent again (retry.py), and the waits between attempts."""

import pytest
import requests
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.providers.retry import never_sent, retrying, safe_to_retry
from chalicelib.ports import ProviderError


@pytest.mark.parametrize(
    ("status", "idempotent", "expected"),
    [
        (429, False, True),  # throttled: not done
        (502, False, True),
        (503, False, True),
        (504, False, True),
        (500, False, False),  # may have acted: only an idempotent call goes again
        (500, True, True),
        (507, True, True),
        (400, True, False),  # refused: asking again will not help
        (404, True, False),
        (409, False, False),
    ],
)
def test_by_status(status, idempotent, expected):
    assert safe_to_retry(idempotent=idempotent, status=status) is expected


def refused() -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.NewConnectionError(None, "Connection refused"))


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (requests.ConnectTimeout(), False),
        (refused(), False),
        (ConnectionRefusedError(), False),
        (requests.ReadTimeout(), True),
        (requests.ConnectionError("Connection reset by peer"), True),
    ],
)
def test_by_network_fault(error, sent):
    assert never_sent(error) is not sent
    assert safe_to_retry(idempotent=True, error=error) is True
    assert safe_to_retry(idempotent=False, error=error) is (not sent)


def test_only_retryable_errors_are_retried_and_the_last_one_is_raised():
    calls = []

    def flaky(kind):
        calls.append(kind)
        raise ProviderError(f"{kind} #{len(calls)}", retryable=(kind == "busy"))

    with pytest.raises(ProviderError, match="quota #1"):
        retrying(3, 0.0, sleep=lambda s: None)(flaky, "quota")
    calls.clear()
    with pytest.raises(ProviderError, match="busy #4"):
        retrying(3, 0.0, sleep=lambda s: None)(flaky, "busy")
    assert len(calls) == 4


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 8), st.floats(0.01, 5), st.floats(0.5, 60))
def test_waits_are_random_within_the_exponential_window(retries, first, cap):
    waits = []

    def always_busy():
        raise ProviderError("busy", retryable=True)

    with pytest.raises(ProviderError):
        retrying(retries, first, cap, sleep=waits.append)(always_busy)
    assert len(waits) == retries
    assert all(0 <= w <= min(cap, first * 2**n) + 1e-9 for n, w in enumerate(waits))
