"""The burst guard on AWS: `capacity_check` starts the `burst_guard` function asynchronously a few minutes
before a class start (once per run, not every minute), and the function looks until its run ends, within
Lambda's time, through chalice's test client over a simulated fleet on real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

import app as app_module
from chalicelib import fleets
from chalicelib.bootstrap import Wiring
from chalicelib.config_file import load_settings
from chalicelib.service.guard_function import GUARD_RUNNING, guard_due
from chalicelib.sim.embedded import sim_runtime

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
        rt.store.settings.put(GUARD_RUNNING, (now() + timedelta(minutes=14)).isoformat())
        with Client(app_module.app, stage_name="local") as client:
            began = now()
            response = client.lambda_.invoke(
                "burst_guard", {"until": (began + timedelta(seconds=2)).isoformat()}
            )
        assert 1.5 <= (now() - began).total_seconds() < 10, response.payload
        assert response.payload["looks"] >= 1 and response.payload["changes"] == 0
        assert rt.store.settings.get(GUARD_RUNNING) is None  # the next check may start it again
