"""The scheduled function `capacity_check` as Lambda runs it (chalice's test client), over a simulated
fleet behind a local Scalelite on real HTTP: the tick it returns, what it does to the fleet, and the
CloudWatch EMF metrics it prints (names, dimensions, values that agree with the tick)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

import app as app_module
from bbbsim.embedded import sim_runtime
from chalicelib import fleets
from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.bootstrap import Wiring
from chalicelib.config_file import load_settings

T0 = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)  # a Monday of term
CLUSTER_METRICS = {
    "LoadUnits",
    "Rooms",
    "Participants",
    "Mics",
    "Webcams",
    "Actions",
    "Failures",
    "TickSeconds",
    "LoadUnknown",
}
PROVIDER_METRICS = {"Desired", "Serving", "Booting", "Draining", "Actions", "Failures"}


@pytest.fixture()
def fleet(monkeypatch):
    """(runtime, world, clock): 200 classes of 100 pupils, more than the owned pool carries; the Lambda
    handlers are pointed at this runtime through fleets.WIRING_FACTORY."""
    with sim_runtime(load_settings(), T0, http=True) as (rt, world, clock):
        for i in range(200):
            world.create_meeting(
                f"class-{i:03d}", T0, participants=100, moderators=1, voice=10, video=2, listen_only=80
            )
        monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: rt)
        yield rt, world, clock


def invoke(capsys) -> tuple[dict, list[dict]]:
    """One scheduled invocation: (its return value, the EMF documents it printed on stdout)."""
    capsys.readouterr()
    # a stage of its own: the dev/prod stages read secrets from SSM, which a test machine has not
    with Client(app_module.app, stage_name="local") as client:
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        response = client.lambda_.invoke("capacity_check", event)
    lines = capsys.readouterr().out.splitlines()
    documents = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(documents) == len(lines), lines  # stdout holds EMF documents only; logs go to stderr
    return response.payload, [d for d in documents if "_aws" in d]


def metric_sets(documents: list[dict]) -> dict[tuple, dict]:
    """EMF documents keyed by their dimension values: {(("cluster", "demo"), ...): {metric: value}}."""
    found = {}
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "bbbscale"
        (dimensions,) = directive["Dimensions"]
        key = tuple((name, document[name]) for name in dimensions if name != "service")
        names = [m["Name"] for m in directive["Metrics"]]
        assert key not in found, key
        found[key] = {
            name: document[name][0] if isinstance(document[name], list) else document[name] for name in names
        }
    return found


def test_a_scheduled_check_starts_the_cheapest_hoster_and_reports_it(fleet, capsys):
    rt, world, _ = fleet
    result, emf = invoke(capsys)
    assert result["dry_run"] is False
    assert result["load"]["participants"] == 20_000 and result["load"]["meetings"] == 200
    ikoula = result["desired"]["ikoula"]
    assert ikoula > 0 and result["desired"]["gandi"] == 0  # the cheaper hourly hoster first
    assert [(a["action"], a["provider"], a["count"]) for a in result["actions"]] == [
        ("start", "ikoula", ikoula)
    ]
    assert result["fleet"]["ikoula"] == {"booting": ikoula}
    assert len(rt.providers["ikoula"].list()) == ikoula  # really created at the (simulated) provider

    metrics = metric_sets(emf)
    cluster = metrics.pop((("cluster", "demo"),))
    assert set(cluster) == CLUSTER_METRICS
    assert cluster["Participants"] == 20_000 and cluster["Rooms"] == 200 and cluster["Mics"] == 2_000
    assert cluster["Webcams"] == 400 and cluster["LoadUnits"] == result["load"]["load_units"]
    assert cluster["Actions"] == 1 and cluster["Failures"] == 0
    assert 0 < cluster["TickSeconds"] < 60  # the check's own wall-clock time
    assert cluster["LoadUnknown"] == 0  # it read the load
    assert set(metrics) == {(("cluster", "demo"), ("provider", p)) for p in ("owned", "ikoula", "gandi")}
    for (_, (_, provider)), figures in metrics.items():
        assert set(figures) == PROVIDER_METRICS
        states = result["fleet"].get(provider, {})
        assert figures["Desired"] == result["desired"][provider]
        assert (figures["Serving"], figures["Booting"]) == (
            states.get("serving", 0),
            states.get("booting", 0),
        )
        assert figures["Actions"] == (1 if provider == "ikoula" else 0)


def test_the_next_minute_does_not_start_the_same_servers_again(fleet, capsys):
    rt, world, clock = fleet
    first, _ = invoke(capsys)
    clock.set(T0 + timedelta(minutes=1))
    world.advance(clock())
    second, emf = invoke(capsys)
    assert not [a for a in second["actions"] if a["action"] == "start"], second["actions"]
    assert sum(second["fleet"]["ikoula"].values()) == first["desired"]["ikoula"]
    assert metric_sets(emf)[(("cluster", "demo"),)]["Actions"] == 0


def blind_wiring(rt, clock) -> Wiring:
    """The runtime's fleet behind a Scalelite nobody answers at (port 9, no retry)."""
    settings = rt.settings.scalelite.model_copy(
        update={"url": "http://127.0.0.1:9/bigbluebutton/api", "retries": 0}
    )
    # No cold-start forecast: with no history it would pre-warm for the 09:00 class, load unknown or not.
    forecast = rt.settings.forecast.model_copy(update={"cold_start_users": 0})
    return Wiring(
        rt.settings.model_copy(update={"forecast": forecast}),
        store=rt.store,
        scalelite=ScaleliteClient(settings, "lb-secret-0123456789"),
        providers=rt.providers,
        clock=clock,
    )


def test_an_unreachable_scalelite_acts_on_nothing_and_emits_no_load_figures(fleet, capsys, monkeypatch):
    rt, world, clock = fleet
    blind = blind_wiring(rt, clock)
    monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: blind)
    result, emf = invoke(capsys)
    assert result["load"] is None
    assert not [a for a in result["actions"] if a["action"] in ("start", "stop", "cordon")], result["actions"]
    assert rt.providers["ikoula"].list() == [] and rt.providers["gandi"].list() == []
    cluster = metric_sets(emf)[(("cluster", "demo"),)]
    # never zeros for an unknown load; the blind check's time is a figure of its own
    assert (
        set(cluster) == {"Actions", "Failures", "TickSeconds", "LoadUnknown"} and cluster["TickSeconds"] > 0
    )
    assert (
        cluster["LoadUnknown"] == 1
    )  # what the "load unknown" alarm reads (infra/cloudformation/alarms.yaml)


def test_every_alarm_on_the_checks_figures_reads_a_metric_the_check_prints(fleet, capsys, monkeypatch):
    """CloudWatch matches an alarm to a metric on its namespace, name and exact dimension set (the
    Powertools `service` dimension included): each alarm of infra/cloudformation/alarms.yaml on the
    `bbbscale` namespace names one the scheduled check really prints, and the load-unknown alarm's
    threshold is crossed by a blind check's figure, not by a reading one's."""
    from tests.support.alarms import resolved_alarms

    rt, _, clock = fleet

    def printed(documents: list[dict]) -> dict[tuple, float]:
        found = {}
        for document in documents:
            (directive,) = document["_aws"]["CloudWatchMetrics"]
            (dimensions,) = directive["Dimensions"]
            key = frozenset((name, document[name]) for name in dimensions)
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                found[directive["Namespace"], metric["Name"], key] = (
                    value[0] if isinstance(value, list) else value
                )
        return found

    reading = printed(invoke(capsys)[1])
    monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: blind_wiring(rt, clock))
    blind = printed(invoke(capsys)[1])
    alarms = resolved_alarms(Stage="dev", Cluster=rt.settings.cluster)
    # GuardFailures is the guard function's figure: tests/e2e/test_burst_guard_function.py
    ours = {n: a for n, a in alarms.items() if a["Namespace"] == "bbbscale" and n != "GuardFailures"}
    assert {a["MetricName"] for a in ours.values()} == {"TickSeconds", "LoadUnknown", "Failures"}
    for name, alarm in ours.items():
        dims = frozenset((d["Name"], d["Value"]) for d in alarm["Dimensions"])
        key = ("bbbscale", alarm["MetricName"], dims)
        sets = [sorted(k[2]) for k in reading if k[1] == alarm["MetricName"]]
        assert key in reading and key in blind, f"{name}: {sorted(dims)} is none of the printed {sets}"
    unknown = ours["LoadUnknown"]
    dims = frozenset((d["Name"], d["Value"]) for d in unknown["Dimensions"])
    assert unknown["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (
        blind["bbbscale", "LoadUnknown", dims]
        >= unknown["Threshold"]
        > reading["bbbscale", "LoadUnknown", dims]
    )
