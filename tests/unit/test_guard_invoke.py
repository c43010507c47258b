"""Which function `capacity_check` starts as the burst guard (chalicelib/adapters/guard_invoke.py)."""

import pytest

from chalicelib.adapters.guard_invoke import guard_function_name, on_lambda
from chalicelib.errors import BbbscaleError


@pytest.fixture(autouse=True)
def no_lambda(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.delenv("BBBSCALE_GUARD_FUNCTION", raising=False)


def test_the_deployments_name_wins_then_chalices_own_beside_the_check(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "bbbscale-prod-capacity_check")
    assert on_lambda() and guard_function_name() == "bbbscale-prod-burst_guard"
    # SAM names the function <stack>-BurstGuard-<hash>: the template hands its name over (issue 19)
    monkeypatch.setenv("BBBSCALE_GUARD_FUNCTION", "bbbscale-prod-BurstGuard-1A2B3C")
    assert guard_function_name() == "bbbscale-prod-BurstGuard-1A2B3C"


def test_off_lambda_there_is_no_function_to_start(monkeypatch):
    assert not on_lambda()
    with pytest.raises(BbbscaleError, match="not on AWS"):
        guard_function_name()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "someone-elses-function")
    assert on_lambda()
    with pytest.raises(BbbscaleError, match="not on AWS"):
        guard_function_name()
