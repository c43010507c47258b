"""Chat operations through chalice's test client: Slack requests signed by slack_sdk's own signer,
Rocket.Chat outgoing webhooks with the integration token, replies checked as JSON, follow-ups received
by a loopback server standing in for Slack's response_url and Rocket.Chat's incoming webhook."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from chalicelib.domain.overrides import DRAIN, FLOORS, FREEZE, read_overrides
from chalicelib.ports import HistoryEntry
from chalicelib.render import history_detail, tick_json
from tests.support.chat_fakes import (
    OPERATOR,
    RC_OPERATOR,
    TICK,
    FakeRuntime,
    Receiver,
    entries,
    reserved,
    serve_in_threads,
    serving,
    snapshot,
    store_with,
    written_settings,
)

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
RC_TOKEN = "rocket-outgoing-token-42"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def runtime(monkeypatch):
    runtime = FakeRuntime(store=store_with(serving("bbb-demo-gandi-1")))
    monkeypatch.setenv("BBBSCALE_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("BBBSCALE_ROCKETCHAT_TOKEN", RC_TOKEN)
    serve_in_threads(monkeypatch, runtime)
    return runtime


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


def slack_post(
    client,
    text: str,
    user: str = "UNOBODY",
    response_url: str = "",
    secret: str = SIGNING_SECRET,
    at: float | None = None,
    sign: bool = True,
    extra_headers: dict | None = None,
    trigger_id: str | None = None,
):
    form = {
        "command": "/bbb",
        "text": text,
        "user_id": user,
        "user_name": user.lower(),
        "channel_id": "C1",
        "team_id": "T1",
        "response_url": response_url,
    }
    body = urlencode(form | ({"trigger_id": trigger_id} if trigger_id else {}))
    timestamp = str(int(time.time() if at is None else at))
    headers = {"Content-Type": FORM, **(extra_headers or {})}
    if sign:
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        headers |= {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    response = client.http.post("/chat/slack", headers=headers, body=body.encode())
    return response, (json.loads(response.body) if response.body else None)


def rc_post(client, text: str, user: str = "nobody", token: str = RC_TOKEN, **extra):
    document = {
        "token": token,
        "user_id": user,
        "user_name": user,
        "channel_id": "R1",
        "channel_name": "ops",
        "text": f"!bbb {text}",
        "trigger_word": "!bbb",
        **extra,
    }
    response = client.http.post(
        "/chat/rocketchat", headers={"Content-Type": "application/json"}, body=json.dumps(document).encode()
    )
    return response, (json.loads(response.body) if response.body else None)


def commands_recorded(runtime) -> list[tuple[str, str]]:
    return [(e.actor, e.detail["command"]) for e in entries(runtime.store) if e.kind == "command"]


def test_help_and_status_are_open_to_every_verified_caller(client, runtime):
    response, answer = slack_post(client, "help")
    assert response.status_code == 200 and answer["response_type"] == "ephemeral"
    assert "reserve START END USERS" in answer["text"]
    for n in range(1, 5):  # the fleet and the last tick `status` reads
        runtime.store.servers.save(serving(f"bbb-own-{n}", provider="owned"))
    seen = history_detail(tick_json(TICK))  # what a tick stores of itself
    runtime.store.history.record(HistoryEntry(datetime.now(UTC), "tick", "seen", seen))
    _, answer = slack_post(client, "status")
    assert "owned: serving 4 (desired 4)" in answer["text"] and "431.5 units" in answer["text"]
    assert commands_recorded(runtime) == [("slack:UNOBODY", "help"), ("slack:UNOBODY", "status")]


@pytest.mark.parametrize(
    "text", ["frobnicate", "plan lots", "floor gandi", "freeze 2weeks", "reserve 08:00 3000", ""]
)
def test_unknown_or_malformed_commands_get_the_help_text(client, runtime, text):
    response, answer = slack_post(client, text, user=OPERATOR)
    assert response.status_code == 200
    assert "bbbscale commands:" in answer["text"]
    assert written_settings(runtime.store) == {} and reserved(runtime.store) == {}


def test_a_non_operator_cannot_freeze_and_the_refusal_is_recorded(client, runtime):
    _, answer = slack_post(client, "freeze 30m")
    assert "only bbbscale operators" in answer["text"]
    assert FREEZE not in written_settings(runtime.store)
    [entry] = entries(runtime.store)
    assert entry.actor == "slack:UNOBODY" and "refused" in entry.summary


def test_an_operator_freezes_for_a_duration_and_unfreezes(client, runtime, receiver):
    before = datetime.now(UTC)
    response, answer = slack_post(client, "freeze 30m scalelite upgrade", user=OPERATOR)
    assert answer["response_type"] == "in_channel" and "Frozen until" in answer["text"]
    freeze = read_overrides(runtime.store.settings.get, before).freeze
    assert freeze.by == f"slack:{OPERATOR}" and freeze.reason == "scalelite upgrade"
    assert timedelta(minutes=29) < freeze.until - before < timedelta(minutes=31)
    assert read_overrides(runtime.store.settings.get, before + timedelta(minutes=31)).freeze is None
    _, answer = slack_post(client, "unfreeze", user=OPERATOR, response_url=receiver.url("/commands/1/2"))
    assert "Unfrozen" in answer["text"] and written_settings(runtime.store)[FREEZE] is None
    path, _, later = receiver.next()
    assert path == "/commands/1/2" and "Scale-up" in later["text"] and later["replace_original"] is False


def test_slack_is_answered_at_once_and_the_check_result_arrives_later(client, runtime, receiver):
    gate = threading.Event()
    slow_tick = runtime.tick
    runtime.tick = lambda dry_run=False, now=None: (gate.wait(10), slow_tick(dry_run, now))[1]
    started = time.monotonic()
    response, answer = slack_post(
        client, "floor gandi 5 for 2h", user=OPERATOR, response_url=receiver.url("/commands/T1/77/abc")
    )
    assert time.monotonic() - started < 1.0 and response.status_code == 200
    assert "at least 5 servers on gandi" in answer["text"]
    assert written_settings(runtime.store)[FLOORS]["gandi"]["servers"] == 5
    assert receiver.none_within(0.1)  # the check is still running
    gate.set()
    _, _, later = receiver.next()
    assert later["response_type"] == "in_channel"
    assert "start 4 on gandi: load 431.5 above capacity" in later["text"]


def test_drain_names_a_known_server(client, runtime, receiver):
    _, answer = slack_post(client, "drain bbb-demo-gandi-9", user=OPERATOR)
    assert "No running server" in answer["text"] and DRAIN not in written_settings(runtime.store)
    _, answer = slack_post(client, "drain bbb-demo-gandi-1", user=OPERATOR, response_url=receiver.url("/r"))
    assert "Draining bbb-demo-gandi-1" in answer["text"]
    assert written_settings(runtime.store)[DRAIN]["bbb-demo-gandi-1"]["by"] == f"slack:{OPERATOR}"
    assert "Capacity check" in receiver.next()[2]["text"]


def test_reserve_stores_a_reservation_and_announces_it(client, runtime, receiver, monkeypatch):
    monkeypatch.setenv("BBBSCALE_SLACK_WEBHOOK_URL", receiver.url("/services/hook"))
    _, answer = slack_post(
        client, "reserve tomorrow 08:00 17:00 3000", user=OPERATOR, response_url=receiver.url("/r")
    )
    assert answer["text"].startswith("Reserved chat-")
    [reservation] = runtime.store.reservations.reservations()
    assert reservation.expected_users == 3000 and reservation.source == f"chat:slack:{OPERATOR}"
    assert reservation.ends_at - reservation.starts_at == timedelta(hours=9)
    messages = {path: body for path, _, body in (receiver.next(), receiver.next())}
    assert "3000 users" in messages["/services/hook"]["text"]
    assert "Capacity check" in messages["/r"]["text"]


def test_a_mistaken_reservation_is_cancelled_from_chat(client, runtime):
    # A week reserved for 15,000 users by mistake could only be undone by the signed DELETE webhook.
    _, made = slack_post(client, "reserve 2026-12-14T08:00 2026-12-18T18:00 15000", user=OPERATOR)
    [reservation] = runtime.store.reservations.reservations()
    assert reservation.id in made["text"]
    _, refused = slack_post(client, f"unreserve {reservation.id}")  # not an operator
    assert "only bbbscale operators" in refused["text"] and runtime.store.reservations.reservations()
    _, done = slack_post(client, f"unreserve {reservation.id}", user=OPERATOR)
    assert (
        done["response_type"] == "in_channel"
        and f"Reservation {reservation.id} (15000 users) cancelled" in (done["text"])
    )
    assert runtime.store.reservations.reservations() == []
    _, again = slack_post(client, f"unreserve {reservation.id}", user=OPERATOR)
    assert f"No reservation {reservation.id!r}" in again["text"]
    _, bad = slack_post(client, "unreserve", user=OPERATOR)
    assert "usage: unreserve ID" in bad["text"] and "bbbscale commands:" in bad["text"]


@pytest.mark.parametrize("case", ["forged", "stale", "unsigned"])
def test_unverified_slack_requests_are_refused_and_change_nothing(client, runtime, case):
    kwargs = {
        "forged": {"secret": "another-signing-secret"},
        "stale": {"at": time.time() - 360},
        "unsigned": {"sign": False},
    }[case]
    before = snapshot(runtime.store)
    response, _ = slack_post(client, "freeze", user=OPERATOR, **kwargs)
    assert response.status_code == 401
    assert snapshot(runtime.store) == before


def test_slack_without_a_signing_secret_answers_503(client, runtime, monkeypatch):
    monkeypatch.delenv("BBBSCALE_SLACK_SIGNING_SECRET")
    response, _ = slack_post(client, "freeze", user=OPERATOR)
    assert response.status_code == 503 and snapshot(runtime.store) == snapshot(store_with())


def test_rocketchat_strips_the_trigger_word_and_answers_in_the_room(client, runtime):
    response, answer = rc_post(client, "plan 3000", user=RC_OPERATOR)
    assert response.status_code == 200
    # 3000 users at the mix's 1.668 units each, plus 17.5 % headroom: 20 servers of 300, the owned 4 first
    assert answer["text"] == "3000 users = 5004.0 load units: owned 4, gandi 16 (20 servers), 8.0 EUR/hour"
    assert commands_recorded(runtime) == [(f"rocketchat:{RC_OPERATOR}", "plan")]


def test_rocketchat_operator_changes_post_their_follow_up_to_the_room(client, runtime, receiver, monkeypatch):
    monkeypatch.setenv("BBBSCALE_ROCKETCHAT_WEBHOOK_URL", receiver.url("/hooks/in/abc"))
    _, answer = rc_post(client, "freeze", user="nobody")
    assert "only bbbscale operators" in answer["text"] and FREEZE not in written_settings(runtime.store)
    _, answer = rc_post(client, "freeze", user=RC_OPERATOR)
    assert answer["text"].startswith("Frozen until `unfreeze`")
    _, answer = rc_post(client, "unfreeze", user=RC_OPERATOR)
    path, _, later = receiver.next()
    assert path == "/hooks/in/abc" and later["channel"] == "#ops" and "Capacity check" in later["text"]


@pytest.mark.parametrize("token", ["wrong-token", "", None])
def test_rocketchat_without_the_token_is_refused(client, runtime, token):
    before = snapshot(runtime.store)
    response, _ = rc_post(client, "freeze", user=RC_OPERATOR, token=token)
    assert response.status_code == 401 and snapshot(runtime.store) == before


def test_rocketchat_ignores_bots_and_needs_its_token_configured(client, runtime, monkeypatch):
    response, answer = rc_post(client, "freeze", user=RC_OPERATOR, bot={"i": "x"})
    assert response.status_code == 200 and answer == {} and entries(runtime.store) == []
    monkeypatch.delenv("BBBSCALE_ROCKETCHAT_TOKEN")
    assert rc_post(client, "status")[0].status_code == 503


def _on_sqlite(runtime, tmp_path) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={
            "state": runtime.settings.state.model_copy(
                update={"backend": "sqlite", "path": str(tmp_path / "s.db")}
            )
        }
    )


def test_a_slack_retry_is_answered_again_but_applied_once(client, runtime, tmp_path):
    # Slack re-sends a command it did not see answered in 3 s: the same body again.
    _on_sqlite(runtime, tmp_path)
    at = time.time()
    first, first_reply = slack_post(client, "floor gandi 3", user=OPERATOR, at=at)
    again, again_reply = slack_post(
        client, "floor gandi 3", user=OPERATOR, at=at, extra_headers={"X-Slack-Retry-Num": "1"}
    )
    assert first.status_code == again.status_code == 200
    assert first_reply == again_reply
    assert len(commands_recorded(runtime)) == 1, "the floor was applied once"
    _, other = slack_post(client, "floor gandi 4", user=OPERATOR)
    assert len(commands_recorded(runtime)) == 2


def test_a_rocketchat_repeat_without_a_message_id_is_acted_on_once_the_retry_window_is_out(
    client, runtime, tmp_path, monkeypatch
):
    # A client sending only token, user and channel ids, text, trigger_word (no message_id): freeze,
    # unfreeze, freeze again. The third body is the first's; it was answered "Frozen until" from the
    # cache for an hour and never applied. Now only a retry within the window (here 1 s) is taken for
    # the same delivery.
    from chalicelib.service import once

    _on_sqlite(runtime, tmp_path)
    monkeypatch.setattr(once, "RETRY_SECONDS", 1)
    rc_post(client, "freeze 30m", user=RC_OPERATOR)
    rc_post(client, "freeze 30m", user=RC_OPERATOR)  # within the window: a retry
    rc_post(client, "unfreeze", user=RC_OPERATOR)
    assert len(commands_recorded(runtime)) == 2, "the retry was answered, not acted on"
    time.sleep(2.1)  # expiries are whole seconds, compared with ">"
    _, again = rc_post(client, "freeze 30m", user=RC_OPERATOR)
    assert "Frozen until" in again["text"]
    assert [c for _, c in commands_recorded(runtime)] == ["freeze", "unfreeze", "freeze"]
    assert read_overrides(runtime.store.settings.get, datetime.now(UTC)).freeze is not None


def test_real_slack_repeats_are_new_commands_at_once(client, runtime, tmp_path):
    # Slack gives every invocation its own trigger_id: freeze, unfreeze, freeze within a second are three
    # commands, while a retry (the same body, X-Slack-Retry-Num) is still answered from the first.
    _on_sqlite(runtime, tmp_path)
    at = time.time()
    for n, text in enumerate(["freeze 30m", "unfreeze", "freeze 30m"]):
        slack_post(client, text, user=OPERATOR, at=at + n, trigger_id=f"13345224609.738474920.8088930838d{n}")
    _, retried = slack_post(
        client,
        "freeze 30m",
        user=OPERATOR,
        at=at + 3,
        trigger_id="13345224609.738474920.8088930838d2",
        extra_headers={"X-Slack-Retry-Num": "1"},
    )
    assert [c for _, c in commands_recorded(runtime)] == ["freeze", "unfreeze", "freeze"]
    assert "Frozen until" in retried["text"]


def test_a_rocketchat_message_id_keeps_a_retry_for_the_hour(client, runtime, tmp_path, monkeypatch):
    from chalicelib.service import once

    _on_sqlite(runtime, tmp_path)
    monkeypatch.setattr(once, "RETRY_SECONDS", 1)  # not the window of a delivery with its own id
    _, first = rc_post(client, "floor gandi 3", user=RC_OPERATOR, message_id="m-1")
    time.sleep(2.1)
    _, retried = rc_post(client, "floor gandi 3", user=RC_OPERATOR, message_id="m-1")
    assert retried == first
    rc_post(client, "floor gandi 3", user=RC_OPERATOR, message_id="m-2")  # a new message, the same text
    assert [c for _, c in commands_recorded(runtime)] == ["setfloor", "setfloor"]


def test_a_replayed_slack_request_is_refused_not_answered_from_the_cache(client, runtime, tmp_path):
    # Someone captured a signed request and sends it again, within the 300 s Slack allows, without
    # Slack's retry header: the same signature and timestamp a second time is a replay.
    _on_sqlite(runtime, tmp_path)
    at = time.time()
    first, first_reply = slack_post(client, "floor gandi 3", user=OPERATOR, at=at)
    replay, replay_reply = slack_post(client, "floor gandi 3", user=OPERATOR, at=at)
    assert first.status_code == 200
    assert replay.status_code == 401 and "replayed" in replay_reply["error"]
    assert replay_reply != first_reply, "the stale answer is not handed out"
    assert len(commands_recorded(runtime)) == 1
    later, _ = slack_post(client, "floor gandi 3", user=OPERATOR, at=at + 1)  # newly signed: a new request
    assert later.status_code == 200


@pytest.mark.parametrize("route", ["/chat/slack", "/chat/rocketchat"])
def test_chat_bodies_are_bounded(client, runtime, route):
    body = b"text=" + b"x" * (6 * 1024 * 1024)  # 6 MB
    kind = FORM if route.endswith("slack") else "application/json"
    response = client.http.post(route, headers={"Content-Type": kind}, body=body)
    assert response.status_code == 413
    assert "larger than 16384 bytes" in json.loads(response.body)["error"]
    assert commands_recorded(runtime) == []
