"""Notifications over real HTTP to loopback stand-ins for Slack's and Rocket.Chat's incoming webhooks."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace

import pytest

from chalicelib.adapters.chat.notify import Webhooks, chats_from_environment, webhooks_from_environment
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.ports import Job, ProviderError
from chalicelib.service.notify import notify_tick
from tests.support.chat_fakes import FakeRuntime, Receiver, run_job, store_with
from tests.support.reports import acted, load, tick_report

STUCK = acted(
    "hold",
    "gandi",
    "drain of bbb-demo-gandi-2 has lasted 130 min (> 120); not forced",
    Outcome.HELD,
    server="bbb-demo-gandi-2",
    hold=HoldKind.STUCK_DRAIN,
)
FROZEN = acted("hold", "*", "frozen by slack:U1: no action", Outcome.HELD, hold=HoldKind.FROZEN)
TICK = tick_report(
    acted("start", "gandi", "431.5 units need 6", count=4),
    acted("cordon", "owned", "too old", server="bbb-demo-owned-3"),
    acted("stop", "gandi", "empty, paid hour ends", server="bbb-demo-gandi-1"),
    acted("start", "ikoula", "gandi quota", Outcome.FAILED, "quota exceeded", count=2),
    acted(
        "register",
        "gandi",
        "healthy",
        Outcome.SKIPPED,
        "the record changed under us (another tick acted)",
        server="bbb-demo-gandi-7",
    ),
    STUCK,
    FROZEN,
    load=load(0, 0, 431.5),
    desired={"owned": 4, "gandi": 6},
    fleet={"owned": {"serving": 4}},
)


@pytest.fixture
def channels():
    with Receiver() as slack, Receiver() as rocket:
        yield slack, rocket, Webhooks(slack=slack.url("/services/T/B/x"), rocketchat=rocket.url("/hooks/a/b"))


def notify_after_tick(runtime, tick_result: dict) -> int:
    """What the runtime does after an acting tick (chalicelib/bootstrap.py, `notify`)."""
    chats = chats_from_environment(runtime.settings.chat)
    return notify_tick(tick_result, chats, seen=runtime.store.announced, cluster=runtime.settings.cluster)


def test_one_tick_makes_one_message_per_channel(channels):
    slack, rocket, webhooks = channels
    assert notify_tick(TICK, webhooks.chats(), cluster="demo") == 2
    _, content_type, message = slack.next()
    assert content_type == "application/json"
    assert message["text"] == "bbbscale: failures (1), stuck drains (1), scale-up (1), scale-down (2)"
    header, *sections, context = message["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "bbbscale demo — capacity check"},
    }
    texts = [s["text"]["text"] for s in sections]
    assert texts[0] == "*Failures*\n• start 2 on ikoula: gandi quota (failed: quota exceeded)"
    assert texts[1].startswith(
        "*Stuck drains*\n• hold bbb-demo-gandi-2: drain of bbb-demo-gandi-2 has lasted"
    )
    assert texts[2] == "*Scale-up*\n• start 4 on gandi: 431.5 units need 6"
    assert texts[3].count("•") == 2 and "cordon bbb-demo-owned-3: too old" in texts[3]
    assert "frozen" not in str(message) and "skipped" not in str(message)
    assert context["elements"][0]["text"].startswith("desired: gandi 6, owned 4")
    _, _, message = rocket.next()
    assert [(a["title"], a["color"]) for a in message["attachments"]] == [
        ("Failures", "#a30200"),
        ("Stuck drains", "#daa038"),
        ("Scale-up", "#2eb886"),
        ("Scale-down", "#2eb886"),
    ]
    assert slack.none_within(0.1) and rocket.none_within(0.0)


@pytest.mark.parametrize(
    "tick", [replace(TICK, dry_run=True), replace(TICK, actions=(FROZEN,)), replace(TICK, actions=())]
)
def test_dry_runs_and_ticks_that_change_nothing_stay_silent(channels, tick):
    slack, rocket, webhooks = channels
    assert notify_tick(tick, webhooks.chats()) == 0
    assert slack.none_within(0.1) and rocket.none_within(0.0)


def test_a_stuck_drain_is_announced_when_it_appears_not_every_minute(channels):
    slack, _, webhooks = channels
    webhooks = Webhooks(slack=webhooks.slack)
    seen = store_with().announced
    only_stuck = replace(TICK, actions=(STUCK, FROZEN))
    assert notify_tick(only_stuck, webhooks.chats(), seen=seen) == 1
    assert notify_tick(only_stuck, webhooks.chats(), seen=seen) == 0
    assert notify_tick(replace(TICK, actions=()), webhooks.chats(), seen=seen) == 0  # resolved: as none
    assert notify_tick(only_stuck, webhooks.chats(), seen=seen) == 1
    assert [slack.next()[2]["text"] for _ in range(2)] == ["bbbscale: stuck drains (1)"] * 2
    assert slack.none_within(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_failing_channel_is_logged_without_its_url_and_the_other_still_gets_the_message(caplog):
    caplog.set_level(logging.WARNING)
    with Receiver(status=500) as broken, Receiver() as rocket:
        secret_url = broken.url("/services/T/B/very-secret-token")
        webhooks = Webhooks(slack=secret_url, rocketchat=rocket.url("/hooks/x"))
        assert notify_tick(TICK, webhooks.chats()) == 1
        broken.next(), rocket.next()
    closed = Webhooks(rocketchat=f"http://127.0.0.1:{free_port()}/hooks/very-secret-token")
    assert notify_tick(TICK, closed.chats()) == 0
    assert "HTTP 500" in caplog.text and "cannot post" in caplog.text
    assert "very-secret-token" not in caplog.text
    assert "very-secret-token" not in repr(webhooks) + repr(closed)


def test_webhook_urls_come_from_the_variables_the_settings_name(channels, monkeypatch):
    slack, _, _ = channels
    runtime = FakeRuntime()
    assert not webhooks_from_environment(runtime.settings.chat, environ={})
    monkeypatch.setenv("BBBSCALE_SLACK_WEBHOOK_URL", slack.url("/from-env"))
    assert notify_after_tick(runtime, TICK) == 1
    assert slack.next()[0] == "/from-env"
    # the stuck drain in TICK was remembered in the runtime's store: not announced again
    assert notify_after_tick(runtime, replace(TICK, actions=(STUCK,))) == 0 and slack.none_within(0.1)


def test_a_failed_check_is_reported_to_whoever_asked(channels):
    slack, _, _ = channels
    runtime = FakeRuntime()
    runtime.tick_error = ProviderError("gandi: 503 Service Unavailable", retryable=True)
    job = Job("floor", reply={"platform": "slack", "response_url": slack.url("/commands/1")})
    assert run_job(runtime, job) is None
    path, _, message = slack.next()
    assert (
        path == "/commands/1" and message["text"] == "Capacity check failed: gandi: 503 Service Unavailable"
    )
