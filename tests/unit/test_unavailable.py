"""The one line a handler answers when its backing services are missing: which errors get it, and that
it names the cause (through Powertools' and our own wrapping) without anything else."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from chalicelib.adapters.unavailable import reason
from chalicelib.ports import BbbscaleError


def raised_from(inner: Exception, outer: Exception, suppress: bool = False) -> Exception:
    """`outer` as it is when raised while handling `inner` (`from None` when `suppress`)."""
    try:
        try:
            raise inner
        except Exception:
            if suppress:
                raise outer from None
            raise outer  # noqa: B904 - raised during handling, as Powertools does
    except Exception as error:
        return error


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (NoRegionError(), "no AWS region configured"),
        (NoCredentialsError(), "no AWS credentials found"),
        (EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-3.amazonaws.com"), "unreachable"),
        (
            ClientError({"Error": {"Code": "AccessDeniedException", "Message": "x"}}, "GetItem"),
            "AWS refused GetItem: AccessDeniedException",
        ),
        (BbbscaleError("cannot open state file /x: unable to open"), "cannot open state file /x"),
    ],
)
def test_a_backing_service_failure_is_one_line_naming_it(error, said):
    line = reason(error)
    assert line.startswith("service unavailable: ") and said in line and "\n" not in line


def test_the_sdk_cause_is_found_under_our_wrapping_even_from_none():
    wrapped = raised_from(
        NoCredentialsError(), BbbscaleError("DynamoDB put_item failed: NoCredentialsError"), True
    )
    assert "no AWS credentials found" in reason(wrapped)
    twice = raised_from(wrapped, RuntimeError("Failed to save in progress record to idempotency store"))
    assert "no AWS credentials found" in reason(twice)


def test_a_bug_is_not_a_missing_service():
    assert reason(KeyError("load")) is None
    assert reason(ValueError("invalid literal")) is None
