"""Malformed bodies on the routes (issue 23, item 2): deeply nested JSON made the closure webhook and the
Rocket.Chat route (before its token check) answer 500 with a logged RecursionError. Every malformed body
now gets 400 and one line, and changes nothing; a numeric `starts_at` (read as unix seconds before) is
refused too."""

from __future__ import annotations

import json

import pytest

from tests.support.chat_fakes import FakeRuntime, entries, reserved, serve_in_threads, serving, store_with
from tests.support.closure_requests import ANNOUNCEMENT, SECRET, encode, signed

RC_TOKEN = "rocket-outgoing-token-42"
HOSTILE = {
    "nested lists": b"[" * 8000 + b"]" * 8000,
    "nested objects": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "not json": b"\xff\xfe{",
    "empty": b"",
}


@pytest.fixture
def runtime(monkeypatch):
    runtime = FakeRuntime(store=store_with(serving("bbb-demo-gandi-1")))
    monkeypatch.setenv("BBBSCALE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("BBBSCALE_ROCKETCHAT_TOKEN", RC_TOKEN)
    serve_in_threads(monkeypatch, runtime)
    return runtime


def _one_line_400(response) -> str:
    assert response.status_code == 400, response.body
    error = json.loads(response.body)["error"]
    assert error and "\n" not in error and "Traceback" not in error
    return error


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_a_malformed_signed_closure_body_is_400_and_changes_nothing(client, runtime, shape, caplog):
    body = HOSTILE[shape]
    _one_line_400(client.http.post("/hooks/closure", headers=signed(body), body=body))
    assert reserved(runtime.store) == {} and runtime.ticks == []
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_a_malformed_rocketchat_body_is_400_before_the_token_check(client, runtime, shape, caplog):
    body = HOSTILE[shape]
    response = client.http.post("/chat/rocketchat", headers={"Content-Type": "application/json"}, body=body)
    _one_line_400(response)
    assert [e for e in entries(runtime.store) if e.kind == "command"] == []
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
def test_a_numeric_time_is_refused_not_read_as_unix_seconds(client, runtime, field):
    body = encode({**ANNOUNCEMENT, field: 4102444800})
    error = _one_line_400(client.http.post("/hooks/closure", headers=signed(body), body=body))
    assert error.startswith(f"{field}: ") and "ISO-8601" in error
    assert reserved(runtime.store) == {}


def test_a_slack_body_that_is_not_utf8_is_400_not_500(client, runtime, monkeypatch, caplog):
    """Found while checking the routes for issue 23: slack_sdk decodes the body while verifying it, so a
    stray byte — signed or not — was a 500 with a logged traceback."""
    monkeypatch.setenv("BBBSCALE_SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": "1700000000",
        "X-Slack-Signature": "v0=00",
    }
    response = client.http.post("/chat/slack", headers=headers, body=b"\xff\xfe=\xff")
    assert _one_line_400(response) == "body: not UTF-8 text"
    assert "Traceback" not in caplog.text
