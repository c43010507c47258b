"""The school-closure webhook through chalice's test client: signed requests are served, everything
else is refused and leaves the state as it was."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from tests.support.chat_fakes import FakeRuntime, Receiver, entries, reserved, serve_in_threads, snapshot
from tests.support.closure_requests import ANNOUNCEMENT, SECRET, encode, signed


@pytest.fixture
def runtime(monkeypatch):
    runtime = FakeRuntime()
    monkeypatch.setenv("BBBSCALE_WEBHOOK_SECRET", SECRET)
    serve_in_threads(monkeypatch, runtime)
    return runtime


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def post(client, body: bytes, headers: dict):
    return client.http.post("/hooks/closure", headers=headers, body=body)


def test_a_signed_announcement_is_stored_and_triggers_a_capacity_check(client, runtime):
    body = encode(ANNOUNCEMENT)
    response = post(client, body, signed(body))
    assert response.status_code == 202
    answer = json.loads(response.body)
    assert answer["id"] == ANNOUNCEMENT["id"] and answer["expected_users"] == 12000 and answer["zone"] == "B"
    # the same instant; a real store hands times back in UTC (one the fake kept in the sender's offset)
    assert (
        instant(answer["starts_at"]) == instant("2099-11-24T08:00:00+01:00") and answer["source"] == "webhook"
    )
    stored = reserved(runtime.store)[ANNOUNCEMENT["id"]]
    assert stored.body_hash and stored.ends_at == instant("2099-11-27T18:00:00+01:00")
    assert runtime.ticked.wait(5) and runtime.ticks == [False]
    assert [e.kind for e in entries(runtime.store)] == ["notice"]


def test_the_same_announcement_again_is_answered_200_without_a_second_check(client, runtime):
    body = encode(ANNOUNCEMENT)
    assert post(client, body, signed(body)).status_code == 202
    # same content, other key order and spacing: the canonical body hash is the same
    again = json.dumps(dict(reversed(list(ANNOUNCEMENT.items()))), indent=2).encode()
    response = post(client, again, signed(again))
    assert response.status_code == 200
    assert json.loads(response.body)["id"] == ANNOUNCEMENT["id"]
    assert runtime.dispatcher.wait(5)
    assert runtime.ticks == [False] and len(reserved(runtime.store)) == 1


def test_the_same_id_with_another_body_is_a_conflict_and_changes_nothing(client, runtime):
    body = encode(ANNOUNCEMENT)
    post(client, body, signed(body))
    before = snapshot(runtime.store)
    other = encode({**ANNOUNCEMENT, "expected_users": 99})
    response = post(client, other, signed(other))
    assert response.status_code == 409
    assert "already exists" in json.loads(response.body)["error"]
    assert snapshot(runtime.store) == before
    assert reserved(runtime.store)[ANNOUNCEMENT["id"]].expected_users == 12000


@pytest.mark.parametrize(
    "case", ["forged", "stale", "future", "unsigned", "tampered", "no-prefix", "bad-timestamp"]
)
def test_unverifiable_requests_are_refused_and_change_nothing(client, runtime, case):
    body = encode(ANNOUNCEMENT)
    headers = {
        "forged": signed(body, secret="not-the-secret"),
        "stale": signed(body, at=time.time() - 301 - 5),
        "future": signed(body, at=time.time() + 301 + 5),
        "unsigned": {"Content-Type": "application/json"},
        "tampered": signed(encode({**ANNOUNCEMENT, "expected_users": 1})),
        "no-prefix": {**signed(body), "X-Bbbscale-Signature": signed(body)["X-Bbbscale-Signature"][7:]},
        "bad-timestamp": {**signed(body), "X-Bbbscale-Timestamp": "yesterday"},
    }[case]
    before = snapshot(runtime.store)
    response = post(client, body, headers)
    assert response.status_code == 401
    assert SECRET not in response.body.decode()
    assert snapshot(runtime.store) == before
    assert runtime.dispatcher.wait(5) and runtime.ticks == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"expected_users": None}, "expected_users"),
        ({"expected_users": 0}, "expected_users"),
        ({"expected_users": True}, "expected_users"),
        ({"starts_at": "next tuesday"}, "starts_at"),
        ({"ends_at": "2099-11-24T07:00:00+01:00"}, "ends_at"),
        ({"ends_at": "2020-01-01T00:00:00+00:00", "starts_at": "2019-12-31T00:00:00+00:00"}, "ends_at"),
        ({"id": "has spaces in it"}, "id"),
        ({"zone": "B; DROP TABLE"}, "zone"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_announcements_get_400_naming_the_field(client, runtime, change, field):
    document = {k: v for k, v in {**ANNOUNCEMENT, **change}.items() if v is not None}
    body = encode(document)
    before = snapshot(runtime.store)
    response = post(client, body, signed(body))
    assert response.status_code == 400
    assert json.loads(response.body)["error"].startswith(f"{field}:")
    assert snapshot(runtime.store) == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"x" * 20000])
def test_bodies_that_are_not_an_object_get_400(client, runtime, body):
    response = post(client, body, signed(body))
    assert response.status_code == 400 and json.loads(response.body)["error"].startswith("body:")


def test_times_without_offset_are_read_in_the_configured_timezone(client, runtime):
    body = encode({**ANNOUNCEMENT, "starts_at": "2099-11-24T08:00:00", "ends_at": "2099-11-24T18:00:00"})
    assert post(client, body, signed(body)).status_code == 202
    assert instant(json.loads(post(client, body, signed(body)).body)["starts_at"]) == instant(
        "2099-11-24T08:00:00+01:00"
    )


def test_without_a_configured_secret_the_webhook_answers_503_and_does_nothing(client, runtime, monkeypatch):
    monkeypatch.delenv("BBBSCALE_WEBHOOK_SECRET")
    body = encode(ANNOUNCEMENT)
    response = post(client, body, signed(body))
    assert response.status_code == 503
    assert reserved(runtime.store) == {} and runtime.ticks == []


def test_a_signed_delete_cancels_once(client, runtime):
    body = encode(ANNOUNCEMENT)
    post(client, body, signed(body))
    path = f"/hooks/closure/{ANNOUNCEMENT['id']}"
    assert client.http.delete(path, headers={}).status_code == 401
    assert (
        client.http.delete(path, headers=signed(b"", secret="wrong", method="DELETE", path=path)).status_code
        == 401
    )
    assert ANNOUNCEMENT["id"] in reserved(runtime.store)
    response = client.http.delete(path, headers=signed(b"", method="DELETE", path=path))
    assert response.status_code == 200 and json.loads(response.body) == {
        "id": ANNOUNCEMENT["id"],
        "cancelled": True,
    }
    assert reserved(runtime.store) == {}
    assert client.http.delete(path, headers=signed(b"", method="DELETE", path=path)).status_code == 404
    # one capacity check for the announcement, one for the cancel (as chat `unreserve`); none for the
    # refused requests and the second DELETE
    assert runtime.dispatcher.wait(5)
    assert runtime.ticks == [False, False]


def test_an_accepted_reservation_is_announced_on_the_chat_channels(client, runtime, monkeypatch):
    with Receiver() as slack, Receiver() as rocket:
        monkeypatch.setenv("BBBSCALE_SLACK_WEBHOOK_URL", slack.url("/services/T0/B0/secret"))
        monkeypatch.setenv("BBBSCALE_ROCKETCHAT_WEBHOOK_URL", rocket.url("/hooks/abc/def"))
        body = encode(ANNOUNCEMENT)
        assert post(client, body, signed(body)).status_code == 202
        path, content_type, message = slack.next()
        assert path == "/services/T0/B0/secret" and content_type == "application/json"
        assert "12000 users" in message["text"] and message["blocks"][0]["type"] == "section"
        assert "zone B" in json.dumps(message["blocks"])
        _, _, message = rocket.next()
        assert message["attachments"][0]["title"] == f"Reservation {ANNOUNCEMENT['id']}"
        assert runtime.dispatcher.wait(5)
        assert slack.none_within(0.2) and rocket.none_within(0.0)


def test_a_captured_announcement_replayed_after_a_cancel_is_refused(client, runtime):
    body = encode(ANNOUNCEMENT)
    captured = signed(body)
    assert post(client, body, captured).status_code == 202
    path = f"/hooks/closure/{ANNOUNCEMENT['id']}"
    assert client.http.delete(path, headers=signed(b"", method="DELETE", path=path)).status_code == 200
    replay = post(client, body, captured)  # the same signed request, still within its 300 s
    assert replay.status_code == 409 and "replay refused" in json.loads(replay.body)["error"]
    assert reserved(runtime.store) == {}, "the cancelled reservation did not come back"
    again = post(client, body, signed(body, at=time.time() + 1))  # announced anew, signed after the cancel
    assert again.status_code == 202


@pytest.mark.parametrize(
    "change, words",
    [
        ({"expected_users": "15000"}, "expected_users: Input should be a valid integer"),
        ({"expected_users": 15000.0}, "expected_users: Input should be a valid integer"),
        ({"zone": "Z"}, "zone: Input should be 'A', 'B' or 'C'"),
    ],
)
def test_loose_closure_fields_are_refused(client, runtime, change, words):
    body = encode({**ANNOUNCEMENT, **change})
    response = post(client, body, signed(body))
    assert response.status_code == 400 and words in json.loads(response.body)["error"]
    assert reserved(runtime.store) == {}


def test_a_signed_request_replayed_to_another_method_path_or_id_is_refused(client, runtime):
    """Issue 23: a captured signed POST replayed as a cancel of another id, or a captured cancel replayed
    against another id, is refused (401) and changes nothing."""
    first = encode(ANNOUNCEMENT)
    other = encode({**ANNOUNCEMENT, "id": "closure-other"})
    captured_post = signed(first)
    assert post(client, first, captured_post).status_code == 202
    assert post(client, other, signed(other)).status_code == 202
    before = reserved(runtime.store)
    mine = f"/hooks/closure/{ANNOUNCEMENT['id']}"
    captured_cancel = signed(b"", method="DELETE", path=mine)
    for path, headers in [
        ("/hooks/closure/closure-other", captured_post),
        (mine, captured_post),
        ("/hooks/closure/closure-other", captured_cancel),
    ]:
        response = client.http.delete(path, headers=headers)
        assert response.status_code == 401, (path, response.body)
        assert "\n" not in json.loads(response.body)["error"]
    assert post(client, b"", captured_cancel).status_code == 401  # a cancel's headers on the POST route
    assert reserved(runtime.store) == before
