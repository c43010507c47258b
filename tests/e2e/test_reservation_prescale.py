"""Issue 6, "done when": a closure announced for 80,000 users from tomorrow 08:00 makes the capacity
checks start servers early enough that everything the quotas allow is serving at 07:45, never beyond a
quota, and tells the operators what the quotas cannot cover — in the tick result (a hold, unmet_servers)
and in the team chat (a message to the configured webhook, here a receiver on loopback).

The announcement goes through the signed webhook (chalice's test client); the fleet is the simulated
cloud, ticked minute by minute on the simulated clock from 07:00.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

import app as app_module
from bbbsim.embedded import sim_runtime
from chalicelib import fleets
from chalicelib.config_file import load_settings
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.domain.tick_report import TickReport
from chalicelib.render import tick_json
from tests.support.chat_fakes import Receiver
from tests.support.cli_runs import DEFAULT_TOML
from tests.support.closure_requests import SECRET, encode, signed
from tests.support.reports import acted, tick_report

PARIS = ZoneInfo("Europe/Paris")
QUOTAS = {name: p["quota"] for name, p in tomllib.loads(DEFAULT_TOML.read_text())["providers"].items()}
CAPACITY = 300  # every provider's capacity_units in the default configuration


class Submitted:
    """Stands in for the dispatcher: records the follow-up check the webhook asks for (the test ticks
    itself, on the simulated clock)."""

    def __init__(self):
        self.jobs = []

    def submit(self, job):
        self.jobs.append(job)


def drain(receiver: Receiver) -> list[tuple[str, str, dict]]:
    """Every POST the receiver got so far."""
    posted = []
    while not receiver.posts.empty():
        posted.append(receiver.posts.get_nowait())
    return posted


def announce(client, starts: datetime, users: int) -> dict:
    document = {
        "id": f"closure-{starts.date().isoformat()}-zone-b",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=10)).isoformat(),
        "expected_users": users,
        "zone": "B",
        "note": "rectorat: schools closed, classes online",
    }
    body = encode(document)
    response = client.http.post("/hooks/closure", headers=signed(body), body=body)
    assert response.status_code == 202, response.body
    return json.loads(response.body)


@pytest.fixture()
def morning(monkeypatch):
    """Yield (runtime, world, clock, receiver, dispatcher) at 07:00 tomorrow, with the chat webhook
    pointed at a loopback receiver and the closure webhook at this runtime."""
    tomorrow = datetime.now(PARIS).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(7, 0), PARIS).astimezone(UTC)
    monkeypatch.setenv("BBBSCALE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("BBBSCALE_SERVER_SECRET_KEY", "server-master-key-for-the-test-0123")
    dispatcher = Submitted()
    monkeypatch.setattr(app_module, "DISPATCHER", dispatcher)
    with Receiver() as receiver:
        monkeypatch.setenv("BBBSCALE_SLACK_WEBHOOK_URL", receiver.url("/services/T000/B000/slack"))
        with sim_runtime(load_settings(), start, http=False) as (rt, world, clock):
            monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: rt)
            yield rt, world, clock, receiver, dispatcher


def test_a_closure_tomorrow_is_served_at_0745_within_the_quotas(morning):
    rt, world, clock, receiver, dispatcher = morning
    starts = datetime.combine(clock().astimezone(PARIS).date(), time(8, 0), PARIS)
    with Client(app_module.app, stage_name="local") as client:
        stored = announce(client, starts, 80_000)
    assert stored["expected_users"] == 80_000 and len(dispatcher.jobs) == 1

    results, reports = {}, {}
    t = clock()
    while t <= starts.astimezone(UTC) - timedelta(minutes=15):
        clock.set(t)
        world.advance(t)
        reports[t.astimezone(PARIS).time()] = report = rt.tick()
        results[t.astimezone(PARIS).time()] = tick_json(report)
        t += timedelta(minutes=1)

    for at, result in results.items():  # never beyond a quota, at any minute
        for provider, states in result["fleet"].items():
            assert sum(states.values()) <= QUOTAS[provider], (at, provider, states)
    starting = [at for at, r in results.items() if any(a["action"] == "start" for a in r["actions"])]
    assert starting and starting[0] >= time(7, 15), starting  # early enough, not needlessly early

    ready = results[time(7, 45)]
    serving = {p: states.get("serving", 0) for p, states in ready["fleet"].items()}
    assert serving == QUOTAS, ready["fleet"]  # every server the quotas allow is serving by 07:45
    assert world.rejected_meetings == 0

    # what the quotas cannot cover is said in the result...
    assert ready["unmet_servers"] > 0
    holds = [a for a in ready["actions"] if a["action"] == "hold" and "quota" in a["reason"]]
    assert holds and f"{ready['unmet_servers']} more servers" in holds[0]["reason"], ready["actions"]
    assert [a.action.reason for a in reports[time(7, 45)].held(HoldKind.QUOTA)] == [holds[0]["reason"]]
    # ...and in the team chat
    # ...and in the team chat: once when it starts (posting is synchronous: every message is in)
    texts = [json.dumps(body) for _, _, body in drain(receiver)]
    told = [text for text in texts if "Quota shortfall" in text]
    assert len(told) == 1 and f"{ready['unmet_servers']} more servers" in told[0], texts


def test_the_shortfall_is_told_when_it_starts_and_when_it_changes_never_every_minute():
    from chalicelib.adapters.chat.notify import Webhooks
    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.service.notify import notify_tick

    seen = MemoryStateStore(cluster="demo").announced

    def tick(unmet: int) -> TickReport:
        why = f"quotas cannot supply {unmet} more servers"
        hold = [acted("hold", "*", why, Outcome.HELD, hold=HoldKind.QUOTA)] if unmet else []
        return tick_report(*hold, desired={"gandi": 150}, unmet_servers=unmet)

    with Receiver() as receiver:
        hooks = Webhooks(slack=receiver.url("/slack")).chats()
        sent = [
            notify_tick(tick(unmet), hooks, seen=seen, cluster="demo") for unmet in (238, 238, 100, 0, 0, 238)
        ]
        assert sent == [1, 0, 1, 0, 0, 1]
        bodies = [json.dumps(body) for _, _, body in drain(receiver)]
    assert ["238 more" in b for b in bodies] == [True, False, True] and "100 more" in bodies[1]
    assert all("Quota shortfall" in b for b in bodies)
