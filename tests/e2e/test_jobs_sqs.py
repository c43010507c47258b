"""On AWS slow work travels through SQS: the webhook queues a job (moto's server stands in for SQS over
loopback HTTP) and the app's `chat_jobs` SQS handler runs it."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from chalice.test import Client

import app as app_module
from chalicelib.adapters.chat.dispatch import Job
from tests.support.chat_fakes import FakeRuntime, chat_settings, point_runtime_at, reserved
from tests.support.closure_requests import ANNOUNCEMENT, SECRET, encode, signed


@pytest.fixture
def runtime(monkeypatch, moto_url):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "BBBSCALE_WEBHOOK_SECRET": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    sqs = boto3.client("sqs")  # moto's server is the module's: each test starts with no queue
    for url in sqs.list_queues().get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)
    runtime = FakeRuntime(settings=chat_settings(dispatcher="sqs"))
    point_runtime_at(monkeypatch, runtime)
    monkeypatch.setattr(app_module, "DISPATCHER", None)  # built from the settings: an SqsDispatcher
    return runtime


def test_an_announcement_queues_a_job_that_the_sqs_handler_runs(runtime, monkeypatch, capfd):
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="bbbscale-jobs")["QueueUrl"]
    monkeypatch.setenv("BBBSCALE_JOBS_QUEUE_URL", queue_url)
    body = encode(ANNOUNCEMENT)
    with Client(app_module.app) as client:
        assert client.http.post("/hooks/closure", headers=signed(body), body=body).status_code == 202
        assert runtime.ticks == []  # nothing ran in the request's process
        [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
        job = Job.from_json(message["Body"])
        assert job.reservation_id == ANNOUNCEMENT["id"] and job.kind == "capacity_check"
        event = client.events.generate_sqs_event(message_bodies=[message["Body"]], queue_name="bbbscale-jobs")
        capfd.readouterr()
        client.lambda_.invoke("chat_jobs", event)
    assert runtime.ticks == [False]
    logged = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    assert any(line.get("message") == "capacity check" for line in logged), "the follow-up is in the logs"


def test_without_a_queue_the_reservation_is_still_stored_for_the_next_scheduled_check(runtime, caplog):
    caplog.set_level(logging.WARNING)
    body = encode({**ANNOUNCEMENT, "id": "no-queue"})
    with Client(app_module.app) as client:
        response = client.http.post("/hooks/closure", headers=signed(body), body=body)
    assert response.status_code == 202 and json.loads(response.body)["id"] == "no-queue"
    assert "no-queue" in reserved(runtime.store)
    assert "set BBBSCALE_JOBS_QUEUE_URL" in caplog.text


@pytest.mark.parametrize("body", ["not json", "[]", '{"kind": "rm -rf", "reason": "x"}', '{"reason": 3}'])
def test_stray_queue_messages_are_dropped_without_a_check(runtime, body, caplog):
    caplog.set_level(logging.WARNING)
    with Client(app_module.app) as client:
        client.lambda_.invoke("chat_jobs", client.events.generate_sqs_event(message_bodies=[body]))
    assert runtime.ticks == [] and "not a bbbscale job" in caplog.text


def test_a_missing_queue_does_not_lose_the_reservation(runtime, monkeypatch, moto_url, caplog):
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("BBBSCALE_JOBS_QUEUE_URL", f"{moto_url}/123456789012/no-such-queue")
    body = encode({**ANNOUNCEMENT, "id": "queue-gone"})
    with Client(app_module.app) as client:
        assert client.http.post("/hooks/closure", headers=signed(body), body=body).status_code == 202
    assert "queue-gone" in reserved(runtime.store)
    assert "job queue refused the job" in caplog.text


def test_the_stage_names_its_own_queue_and_the_app_finds_its_url(runtime):
    # the dev stage sets BBBSCALE_JOBS_QUEUE=bbbscale-dev-jobs (what infra/cloudformation/state.yaml creates)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="bbbscale-dev-jobs")["QueueUrl"]
    body = encode({**ANNOUNCEMENT, "id": "by-name"})
    with Client(app_module.app, stage_name="dev") as client:
        assert client.http.post("/hooks/closure", headers=signed(body), body=body).status_code == 202
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert Job.from_json(message["Body"]).reservation_id == "by-name"
