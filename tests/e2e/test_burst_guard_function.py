"""The burst guard on AWS: `capacity_check` starts the `burst_guard` function asynchronously a few minutes
before a class start (once per run, not every minute), and the function looks until its run ends, within
Lambda's time, through chalice's test client over a simulated fleet on real HTTP. Chained runs hand over
the guard lease within a second, never looking together; a start that fails is reported, not
swallowed."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

import app as app_module
from bbbsim.embedded import sim_runtime
from chalicelib import fleets
from chalicelib.bootstrap import Wiring
from chalicelib.config_file import load_settings
from chalicelib.domain.kept import GuardRun
from chalicelib.service.guard_function import (
    HANDOVER,
    START_GRACE,
    guard_due,
    run_guard_function,
    start_guard_run,
)

BEFORE_NINE = datetime(2026, 11, 30, 7, 58, tzinfo=UTC)  # 08:58 in Paris, a Monday of term
QUIET = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # 10:30 in Paris


@pytest.fixture()
def started(monkeypatch):
    """The payloads capacity_check asked to start the guard with (GUARD_INVOKER: our own port)."""
    calls: list[dict] = []
    monkeypatch.setattr(app_module, "GUARD_INVOKER", calls.append)
    return calls


def scheduled(client) -> dict:
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return client.lambda_.invoke("capacity_check", event).payload


def test_capacity_check_starts_the_guard_before_a_class_and_only_once(monkeypatch, started):
    with sim_runtime(load_settings(), BEFORE_NINE, http=True) as (rt, world, clock):
        monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: rt)
        with Client(app_module.app, stage_name="local") as client:
            first = scheduled(client)
            assert first["guard_run"]["started"] is True
            assert first["guard_run"]["reason"] == "class start at 09:00"
            clock.set(BEFORE_NINE + timedelta(minutes=1))
            assert "guard_run" not in scheduled(client)  # it runs until 14 minutes later
        assert len(started) == 1
        until = datetime.fromisoformat(started[0]["until"])
        assert until == BEFORE_NINE + timedelta(minutes=14)
        (entry,) = rt.store.history.recent(1, kind="guard")
        assert entry.summary.startswith("guard started until")


def test_no_guard_at_quiet_times_or_when_switched_off(started):
    with sim_runtime(load_settings(), QUIET, http=False) as (rt, _, _):
        assert guard_due(rt.settings, rt.store, QUIET) is None
    off = load_settings().model_copy(
        update={"guard": load_settings().guard.model_copy(update={"enabled": False})}
    )
    with sim_runtime(off, BEFORE_NINE, http=False) as (rt, _, _):
        assert guard_due(rt.settings, rt.store, BEFORE_NINE) is None


def test_a_surge_between_two_checks_starts_it_outside_class_starts():
    with sim_runtime(load_settings(), QUIET, http=False) as (rt, _, _):
        assert guard_due(rt.settings, rt.store, QUIET, 1000.0) is None
        assert (
            guard_due(rt.settings, rt.store, QUIET + timedelta(minutes=1), 1500.0)
            == "load rising 500 units a minute"
        )


def test_the_guard_function_looks_until_its_run_ends_and_says_so(monkeypatch):
    with sim_runtime(load_settings(), BEFORE_NINE, http=True) as (rt, world, _):
        now = lambda: datetime.now(UTC)  # noqa: E731 - the function runs on the wall clock
        live = Wiring(rt.settings, store=rt.store, scalelite=rt.scalelite, providers=rt.providers, clock=now)
        monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: live)
        marker = GuardRun(now() + timedelta(minutes=14), "next", now())
        rt.store.guard_runs.note_run(marker)  # the run after this one, already started
        with Client(app_module.app, stage_name="local") as client:
            began = now()
            response = client.lambda_.invoke(
                "burst_guard", {"until": (began + timedelta(seconds=2)).isoformat(), "run": "this"}
            )
        assert 1.5 <= (now() - began).total_seconds() < 10, response.payload
        assert response.payload["looks"] >= 1 and response.payload["changes"] == 0
        assert response.payload["held"] is True and response.payload["run"] == "this"
        assert rt.store.guard_lease.holder(now()) is None, "released for the next run"
        assert rt.store.guard_runs.last_run() == marker, "the next run's marker is not this run's"


def test_off_lambda_the_check_starts_no_guard_function_and_says_nothing_of_it(monkeypatch):
    # chalice local, or the check called from a script: there is no function to start. Each check near a
    # class recorded "burst guard not started: not on AWS", in the history and in chat.
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.delenv("BBBSCALE_GUARD_FUNCTION", raising=False)
    with sim_runtime(load_settings(), BEFORE_NINE, http=False) as (rt, world, clock):
        monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: rt)
        with Client(app_module.app, stage_name="local") as client:
            result = scheduled(client)
        assert "guard_run" not in result and "error" not in result
        assert rt.store.history.recent(5, kind="guard") == []
    # in Lambda it is tried (and a failure reported, below)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "bbbscale-prod-capacity_check")
    from chalicelib.adapters.guard_invoke import on_lambda

    assert on_lambda()


def test_a_failed_start_is_reported_and_tried_again_the_next_minute(monkeypatch):
    class ResourceNotFoundException(Exception):  # what boto3 raises for a function that does not exist
        pass

    def invoke(payload):
        raise ResourceNotFoundException("Function not found: bbbscale-prod-burst_guard")

    monkeypatch.setattr(app_module, "GUARD_INVOKER", invoke)
    with sim_runtime(load_settings(), BEFORE_NINE, http=False) as (rt, world, clock):
        monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: rt)
        with Client(app_module.app, stage_name="local") as client:
            first = scheduled(client)
            clock.set(BEFORE_NINE + timedelta(minutes=1))
            second = scheduled(client)
    said = "ResourceNotFoundException: Function not found: bbbscale-prod-burst_guard"
    assert first["guard_run"]["started"] is False and first["guard_run"]["error"] == said
    assert second["guard_run"]["started"] is False, "not marked running: tried again"
    line = f"burst guard not started (class start at 09:00): {said}"
    assert line in second["guard"], "the next tick reports it (digest, chat)"
    assert rt.store.history.recent(1, kind="guard")[0].summary == line


def test_the_next_run_is_started_before_the_handover_and_a_dead_run_is_replaced():
    with sim_runtime(load_settings(), BEFORE_NINE, http=False) as (rt, _, _):
        started: list[dict] = []
        at = lambda minutes: BEFORE_NINE + timedelta(minutes=minutes)  # noqa: E731
        assert start_guard_run(rt.settings, rt.store, at(0), started.append)["started"]
        until = datetime.fromisoformat(started[0]["until"])
        owner = f"guard-run-{started[0]['run']}"
        assert start_guard_run(rt.settings, rt.store, at(1), started.append) is None, "starting"
        assert rt.store.guard_lease.acquire(owner, at(1), 30)
        for minute in range(2, 12):  # the run looks (its heartbeat renews the lease)
            assert rt.store.guard_lease.acquire(owner, at(minute), 30)
            assert start_guard_run(rt.settings, rt.store, at(minute), started.append) is None
        handover = until - HANDOVER
        assert start_guard_run(rt.settings, rt.store, handover, started.append)["started"]
        assert len(started) == 2 and started[1]["run"] != started[0]["run"]
        # the second run died before it held the lease, and the first one's ended: started again
        later = handover + START_GRACE + timedelta(seconds=1)
        assert rt.store.guard_lease.holder(later) is None
        assert start_guard_run(rt.settings, rt.store, later, started.append)["started"]


def test_chained_runs_hand_over_without_a_gap_and_never_look_together():
    fast = load_settings().model_copy(
        update={
            "guard": load_settings().guard.model_copy(
                update={"interval_seconds": 0.5, "burst_interval_seconds": 0.5}
            )
        }
    )
    with sim_runtime(fast, BEFORE_NINE, http=True) as (rt, _, _):
        began = time.monotonic()
        now = lambda: BEFORE_NINE + timedelta(seconds=time.monotonic() - began)  # noqa: E731
        looks: list[tuple[float, str]] = []
        results: dict = {}

        def run(name: str, seconds: float) -> None:
            ports = replace(rt.ports(), clock=now, scalelite=Looks(rt.scalelite, name, looks))
            event = {"until": (now() + timedelta(seconds=seconds)).isoformat(), "run": name}
            results[name] = run_guard_function(ports, event, 900.0, time.sleep)

        holders: list[tuple[float, str | None]] = []
        watching = threading.Event()

        def watch() -> None:  # who holds the guard lease, every 20 ms
            while not watching.is_set():
                holders.append((time.monotonic(), rt.store.guard_lease.holder(now())))
                time.sleep(0.02)

        threads = [threading.Thread(target=watch)]
        threads += [threading.Thread(target=run, args=("first", 2.0))]
        threads += [threading.Thread(target=run, args=("second", 3.0))]
        threads[0].start()
        threads[1].start()
        time.sleep(0.5)  # the capacity check starts the next run before the first one ends
        threads[2].start()
        threads[2].join(15)
        threads[1].join(1)
        watching.set()
        threads[0].join(1)
        last_of_first = max(t for t, who in looks if who == "first")
        seconds = [t for t, who in looks if who == "second"]
        assert results["second"]["held"] and results["second"]["waited_seconds"] >= 1
        assert min(seconds) > last_of_first, "never two guards looking at once"
        first_end = max(t for t, who in holders if who == "guard-run-first")
        second_from = min(t for t, who in holders if who == "guard-run-second")
        assert 0 < second_from - first_end < 1.0, "the next run holds the lease within a poll"
        assert rt.store.guard_lease.holder(now()) is None


class Looks:
    """Scalelite port wrapper keeping when each run read getServers (one per look)."""

    def __init__(self, inner, name: str, looks: list):
        self.inner, self.name, self.looks = inner, name, looks

    def servers(self):
        self.looks.append((time.monotonic(), self.name))
        return self.inner.servers()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_run_started_by_an_older_version_is_trusted_until_its_end():
    with sim_runtime(load_settings(), BEFORE_NINE, http=False) as (rt, _, _):
        rt.store.guard_runs.note_run(GuardRun(BEFORE_NINE + timedelta(minutes=10)))  # no run id, no start
        assert guard_due(rt.settings, rt.store, BEFORE_NINE) is None, "it holds no lease, yet runs"
        assert guard_due(rt.settings, rt.store, BEFORE_NINE + timedelta(minutes=8)) == "class start at 09:00"


def test_a_hand_made_invoke_with_a_naive_until_or_no_object_still_ends_in_time(caplog):
    # An operator's `aws lambda invoke` with {"until": "2026-12-07T09:12:05"} (no offset): compared with
    # the aware clock it failed and was ignored, and the run went on for 14 minutes. "x" as the payload
    # was an AttributeError.
    caplog.set_level(logging.WARNING)
    with sim_runtime(load_settings(), BEFORE_NINE, http=True) as (rt, _, _):
        began = time.monotonic()
        now = lambda: BEFORE_NINE + timedelta(seconds=time.monotonic() - began)  # noqa: E731
        ports = replace(rt.ports(), clock=now)
        naive = (BEFORE_NINE + timedelta(seconds=1)).astimezone(UTC).replace(tzinfo=None).isoformat()
        done = run_guard_function(ports, {"until": naive, "run": "by-hand"}, 30.0, time.sleep)
        assert datetime.fromisoformat(done["until"]) == BEFORE_NINE + timedelta(seconds=1)
        stray = run_guard_function(ports, "x", 2.0, time.sleep)  # type: ignore[arg-type]  # bounded by the Lambda's time
        assert time.monotonic() - began < 10 and stray["run"]
    assert "has no offset: read as UTC" in caplog.text and "payload is not a JSON object (str)" in caplog.text


def test_a_failure_the_guard_function_survives_is_a_figure_at_once_that_its_alarm_reads(monkeypatch, capsys):
    """A guard run lasts up to 14 minutes: each failure it survives (here a bug between two looks, once)
    prints its GuardFailures EMF document as it happens, with the dimensions the alarm of
    infra/cloudformation/alarms.yaml names (cluster and Powertools' service) and its kind beside."""
    import json

    from chalicelib.service.guard import BurstGuard
    from tests.support.alarms import resolved_alarms

    next_check, left = BurstGuard.next_check, [1]

    def broken(self, now):
        if left[0] > 0:
            left[0] -= 1
            raise RuntimeError("the guard's own bug")
        return next_check(self, now)

    monkeypatch.setattr(BurstGuard, "next_check", broken)
    with sim_runtime(load_settings(), BEFORE_NINE, http=True) as (rt, world, _):
        now = lambda: datetime.now(UTC)  # noqa: E731 - the function runs on the wall clock
        live = Wiring(rt.settings, store=rt.store, scalelite=rt.scalelite, providers=rt.providers, clock=now)
        monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: live)
        capsys.readouterr()
        with Client(app_module.app, stage_name="local") as client:
            response = client.lambda_.invoke(
                "burst_guard", {"until": (now() + timedelta(seconds=3)).isoformat(), "run": "this"}
            )
        assert response.payload["failures"] == 1 and response.payload["looks"] >= 1, response.payload
        printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        (document,) = [d for d in printed if "GuardFailures" in d]
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        (dimensions,) = directive["Dimensions"]
        assert document["GuardFailures"] == [1.0] and document["kind"] == "RuntimeError"
        alarm = resolved_alarms(Stage="dev", Cluster=rt.settings.cluster)["GuardFailures"]
        assert (directive["Namespace"], [m["Name"] for m in directive["Metrics"]]) == (
            alarm["Namespace"],
            [alarm["MetricName"]],
        )
        assert {(name, document[name]) for name in dimensions} == {
            (d["Name"], d["Value"]) for d in alarm["Dimensions"]
        }
