"""The stages as Chalice's test client runs them, with no AWS at all: the `local` stage serves every
route and ticks the embedded default into its SQLite file; the AWS stages answer one clear line when
AWS is not there (no region, no credentials), never a 500 with a traceback."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import boto3
import pytest
from chalice.test import Client

import app as app_module
from chalicelib import fleets
from chalicelib.adapters.state.sqlite import SqliteStateStore
from chalicelib.ports import BbbscaleError
from tests.support.closure_requests import ANNOUNCEMENT, SECRET, encode, signed

SLACK_SECRET, RC_TOKEN = "slack-signing-secret-0123", "rocketchat-token-0123"


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """A shell with the three route secrets, a state file of its own and nothing of AWS."""
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no credentials from an instance either
    monkeypatch.setenv("BBBSCALE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("BBBSCALE_SLACK_SIGNING_SECRET", SLACK_SECRET)
    monkeypatch.setenv("BBBSCALE_ROCKETCHAT_TOKEN", RC_TOKEN)
    monkeypatch.setenv("BBBSCALE_STATE_PATH", str(tmp_path / "state.sqlite3"))
    monkeypatch.setattr(fleets, "WIRING_FACTORY", None)
    # boto3's default session keeps the environment it was made in (the test client swaps os.environ)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setattr(app_module, "DISPATCHER", None)
    return tmp_path / "state.sqlite3"


def slack_request(text: str, user: str = "U123") -> tuple[dict, str]:
    body = urlencode({"command": "/bbb", "text": text, "user_id": user, "user_name": "alice"})
    ts = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }
    return headers, body


def rocketchat_request(text: str) -> tuple[dict, str]:
    document = {"token": RC_TOKEN, "user_id": "u1", "user_name": "bob", "channel_name": "ops", "text": text}
    return {"Content-Type": "application/json"}, json.dumps({**document, "trigger_word": "!bbb"})


def scheduled(client):
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return client.lambda_.invoke("capacity_check", event).payload


def test_the_local_stage_serves_every_route_and_ticks_the_embedded_default(no_aws):
    with Client(app_module.app, stage_name="local") as client:
        tick = scheduled(client)
        assert "error" not in tick, tick
        assert tick["dry_run"] is False and tick["load"]["meetings"] >= 0
        assert tick["fleet"]["owned"] == {"serving": 96}  # the embedded default's owned pool

        body = encode(ANNOUNCEMENT)
        answer = client.http.post("/hooks/closure", headers=signed(body), body=body)
        assert answer.status_code == 202, answer.body
        assert app_module.DISPATCHER.wait(timeout=60)  # the follow-up check ran on the thread

        headers, form = slack_request("status")
        answer = client.http.post("/chat/slack", headers=headers, body=form)
        assert answer.status_code == 200 and "serving 96" in answer.body.decode()

        headers, document = rocketchat_request("!bbb help")
        answer = client.http.post("/chat/rocketchat", headers=headers, body=document)
        assert answer.status_code == 200 and "status" in json.loads(answer.body)["text"]

        assert "error" not in scheduled(client)  # the same world, a minute later

    store = SqliteStateStore(str(no_aws), cluster="demo")
    assert [r.id for r in store.reservations.reservations()] == [ANNOUNCEMENT["id"]]
    ticks = store.history.recent(20, kind="tick")
    assert len(ticks) >= 3  # two scheduled checks and the closure's follow-up, all in the stage's file
    commands = [entry.summary for entry in store.history.recent(20, kind="command")]
    assert any(s.startswith("alice: status") for s in commands), commands
    assert any(s.startswith("bob: help") for s in commands), commands


@pytest.mark.parametrize("stage", ["dev", "prod", None])
def test_an_aws_stage_without_a_region_answers_one_clear_line(no_aws, stage, caplog):
    caplog.set_level(logging.ERROR)
    options = {"stage_name": stage} if stage else {}  # None: the test client's default stage (dev)
    with Client(app_module.app, **options) as client:
        body = encode(ANNOUNCEMENT)
        answers = [
            client.http.post("/hooks/closure", headers=signed(body), body=body),
            client.http.post(
                "/chat/slack", headers=slack_request("status")[0], body=slack_request("status")[1]
            ),
            client.http.post(
                "/chat/rocketchat",
                headers=rocketchat_request("!bbb status")[0],
                body=rocketchat_request("!bbb status")[1],
            ),
        ]
        tick = scheduled(client)
        # the burst guard as capacity_check starts it, and a follow-up job as SQS delivers it: they were
        # NoRegionError tracebacks
        guard = client.lambda_.invoke("burst_guard", {"until": "2026-12-07T09:12:05+00:00", "run": "r1"})
        job = client.events.generate_sqs_event(
            queue_name="bbbscale-jobs", message_bodies=[json.dumps({"reason": "freeze lifted"})]
        )
        with pytest.raises(BbbscaleError) as redelivered:  # raised: SQS delivers it again, then the DLQ
            client.lambda_.invoke("chat_jobs", job)
    for answer in answers:
        assert answer.status_code == 503, answer.body
        said = json.loads(answer.body)["error"]
        assert "no AWS region configured" in said and "\n" not in said and "Traceback" not in said
    assert "no AWS region configured" in tick["error"]
    assert "no AWS region configured" in guard.payload["error"]
    assert str(redelivered.value).startswith("service unavailable: no AWS region configured")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 6 and all(r.exc_info is None for r in errors)  # one line per request, no trace
    assert not no_aws.exists()  # nothing written anywhere


def test_an_aws_stage_without_credentials_says_so(no_aws, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    with Client(app_module.app, stage_name="prod") as client:
        headers, document = rocketchat_request("!bbb status")
        answer = client.http.post("/chat/rocketchat", headers=headers, body=document)
        tick = scheduled(client)
    assert answer.status_code == 503
    assert "no AWS credentials" in json.loads(answer.body)["error"]
    assert "no AWS credentials" in tick["error"]


def test_a_process_that_served_an_aws_stage_still_reads_the_local_stage_secrets_from_its_environment(
    no_aws, monkeypatch
):
    # The secret store is chosen per call from the stage's variables, not once per process: after a dev
    # request (which looks in SSM), the local stage has no store, so a missing token is "not configured".
    monkeypatch.delenv("BBBSCALE_ROCKETCHAT_TOKEN")
    headers, document = rocketchat_request("!bbb status")
    with Client(app_module.app, stage_name="dev") as client:
        answer = client.http.post("/chat/rocketchat", headers=headers, body=document)
        assert answer.status_code == 503 and "no AWS region" in json.loads(answer.body)["error"]
    with Client(app_module.app, stage_name="local") as client:
        answer = client.http.post("/chat/rocketchat", headers=headers, body=document)
    assert answer.status_code == 503
    assert json.loads(answer.body)["error"] == "rocket.chat commands not configured"


def test_the_embedded_default_without_the_simulator_is_one_clear_line(no_aws, monkeypatch):
    """Where the simulator is not installed (the Lambda package never ships it), the built-in
    configuration cannot run: the check returns one line naming what is missing, a route answers it as
    a 503; nothing is ticked."""
    from chalicelib import plugins

    monkeypatch.setattr(plugins, "entry_points", lambda **_: ())
    plugins.installed.cache_clear()
    try:
        with Client(app_module.app, stage_name="local") as client:
            said = scheduled(client)
            headers, form = slack_request("status")
            answer = client.http.post("/chat/slack", headers=headers, body=form)
    finally:
        plugins.installed.cache_clear()
    missing = "needs the simulator, which is not installed: no entry point 'simulator' in group"
    assert said == {
        "error": f"service unavailable: providers.owned.kind 'simulated' {missing} "
        + (
            "'bbbscale.plugins' (the package 'bbbsim', shipped in the bbbscale wheel; a checkout gets it from "
            "`./dev setup`)"
        )
    }
    assert answer.status_code == 503 and json.loads(answer.body) == said, answer.body
    assert (
        not no_aws.exists()
        or SqliteStateStore(str(no_aws), cluster="demo").history.recent(5, kind="tick") == []
    )
