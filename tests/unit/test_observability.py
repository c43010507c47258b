"""EMF metrics from a tick result, the Chalice middleware, and secret redaction in logs."""

from __future__ import annotations

import json
import logging

import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib import observability
from chalicelib.observability import RedactingFilter, emit_tick_metrics, install, metrics

TICK = {
    "at": "2026-11-23T08:00:00+00:00",
    "dry_run": False,
    "load": {
        "meetings": 12,
        "breakout_rooms": 2,
        "participants": 240,
        "moderators": 14,
        "voice": 61,
        "listen_only": 120,
        "video_streams": 9,
        "load_units": 431.5,
    },
    "desired": {"owned": 96, "gandi": 40},
    "fleet": {"owned": {"serving": 96}, "gandi": {"serving": 12, "booting": 20, "draining": 1}},
    "actions": [
        {"action": "start", "provider": "gandi", "count": 8, "reason": "short", "result": "started 8"},
        {
            "action": "cordon",
            "provider": "gandi",
            "server": "g-3",
            "reason": "spare",
            "result": "failed: boom",
        },
        {"action": "hold", "provider": "*", "reason": "frozen by an operator"},
    ],
}


def emf_documents(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def values(document: dict) -> dict:
    names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    return {name: document[name] for name in names}


def dimensions(document: dict) -> dict:
    (names,) = document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    return {name: document[name] for name in names}


@pytest.fixture(autouse=True)
def _clean_metrics():
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def test_a_tick_becomes_cluster_and_provider_metrics(capsys):
    emit_tick_metrics(metrics, TICK, "demo")
    metrics.flush_metrics()
    documents = emf_documents(capsys.readouterr().out)
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "bbbscale" for d in documents)
    by_provider = {d.get("provider"): d for d in documents}
    assert set(by_provider) == {None, "owned", "gandi"} and len(documents) == 3
    cluster = by_provider[None]
    assert dimensions(cluster) == {"service": "bbbscale", "cluster": "demo"}
    assert values(cluster) == {
        "LoadUnits": [431.5],
        "Rooms": [12.0],
        "Participants": [240.0],
        "Mics": [61.0],
        "Webcams": [9.0],
        "Actions": [2.0],
        "Failures": [1.0],
    }
    gandi = by_provider["gandi"]
    assert dimensions(gandi) == {"service": "bbbscale", "cluster": "demo", "provider": "gandi"}
    assert values(gandi) == {
        "Desired": [40.0],
        "Serving": [12.0],
        "Booting": [20.0],
        "Draining": [1.0],
        "Actions": [2.0],
        "Failures": [1.0],
    }
    assert values(by_provider["owned"])["Serving"] == [96.0] and values(by_provider["owned"])["Actions"] == [
        0.0
    ]


def test_an_unknown_load_adds_no_load_metrics(capsys):
    emit_tick_metrics(metrics, {**TICK, "load": None, "desired": {}, "fleet": {}, "actions": []}, "demo")
    metrics.flush_metrics()
    (cluster,) = emf_documents(capsys.readouterr().out)
    assert values(cluster) == {"Actions": [0.0], "Failures": [0.0]}


def test_install_logs_with_lambda_context_and_flushes_metrics_once(capfd):
    app = Chalice(app_name="bbbscale-observed", configure_logs=False)
    install(app)

    @app.lambda_function(name="capacity_check")
    def capacity_check(event, context):
        observability.logger.info("tick done")
        emit_tick_metrics(metrics, {**TICK, "desired": {}, "fleet": {}}, "demo")
        return {"ok": True}

    with Client(app) as client:
        assert client.lambda_.invoke("capacity_check", {}).payload == {"ok": True}
    captured = capfd.readouterr()
    (cluster,) = emf_documents(captured.out)
    assert dimensions(cluster)["cluster"] == "demo"
    (line,) = [json.loads(x) for x in captured.err.splitlines() if "tick done" in x]
    assert (
        line["service"] == "bbbscale" and line["function_name"] == "capacity_check" and "cold_start" in line
    )


def test_configured_secrets_never_reach_the_logs(capfd, monkeypatch):
    monkeypatch.setenv("BBBSCALE_WEBHOOK_SECRET", "s3cr3t-webhook-value")
    observability.logger.info(
        "verifying with s3cr3t-webhook-value", extra={"header": 's3cr3t-webhook-value"'}
    )
    line = json.loads(capfd.readouterr().err.strip().splitlines()[-1])
    assert "s3cr3t" not in json.dumps(line)
    assert line["message"] == "verifying with ***"


def test_the_plain_logging_filter_masks_secrets(monkeypatch, caplog):
    monkeypatch.setenv("BBBSCALE_SLACK_SIGNING_SECRET", "slack-signing-value")
    plain = logging.getLogger("bbbscale.test.plain")
    plain.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="bbbscale.test.plain"):
        plain.info("signature made with %s", "slack-signing-value")
    assert caplog.messages == ["signature made with ***"]


def test_the_grafana_dashboard_charts_only_metrics_bbbscale_emits():
    from pathlib import Path

    from chalicelib.observability import (
        FLEET_METRICS,
        GUARD_FAILURES,
        HERDING_METRICS,
        LOAD_METRICS,
        LOAD_UNKNOWN,
        TICK_SECONDS,
    )

    emitted = set(LOAD_METRICS.values()) | set(FLEET_METRICS.values()) | {"Desired", "Actions", "Failures"}
    emitted |= set(HERDING_METRICS) | {TICK_SECONDS, LOAD_UNKNOWN, GUARD_FAILURES}
    board = json.loads((Path(__file__).resolve().parents[2] / "infra/grafana/dashboard.json").read_text())
    targets = [t for p in board["panels"] for t in p["targets"]]
    assert {t["metricName"] for t in targets} == emitted
    assert all(t["namespace"] == "bbbscale" and t["dimensions"]["cluster"] == "$cluster" for t in targets)


def test_each_action_is_one_json_log_line_with_tick_cluster_and_action(capsys):
    import json

    from chalicelib.observability import log_tick

    log_tick(
        {
            "tick_id": "tick-abc",
            "desired": {"gandi": 3},
            "load": {"load_units": 12.5},
            "problems": [],
            "actions": [
                {
                    "action": "start",
                    "provider": "gandi",
                    "count": 3,
                    "reason": "desired 3 > active 0",
                    "result": "done",
                }
            ],
        },
        "region",
    )
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    (action,) = [line for line in lines if line.get("action") == "start"]
    assert (action["tick"], action["cluster"], action["provider"], action["count"]) == (
        "tick-abc",
        "region",
        "gandi",
        3,
    )
    assert "desired 3 > active 0" in action["message"]


def test_herding_and_guard_metrics_come_with_the_tick_that_reports_them(capsys):
    from aws_lambda_powertools import Metrics

    from chalicelib.observability import HERDING_METRICS, emit_tick_metrics

    metrics = Metrics(namespace="bbbscale", service="bbbscale")
    tick = {
        "load": None,
        "actions": [],
        "desired": {},
        "fleet": {},
        "guard": ["cordon s1: projected 280/300", "enable s2: has room again"],
        "herding": {"servers": 40, "rooms_cv": 0.21, "load_cv": 0.12, "overloaded": 1},
    }
    emit_tick_metrics(metrics, tick, "region")
    document = metrics.serialize_metric_set()
    assert {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]} >= set(HERDING_METRICS)
    assert document["HerdingRoomsCV"] == [21.0] and document["GuardChanges"] == [2.0]
    metrics.clear_metrics()


def test_load_unknown_is_one_for_a_tick_that_could_not_read_it_and_absent_when_the_lease_was_held():
    from aws_lambda_powertools import Metrics

    from chalicelib.observability import LOAD_UNKNOWN, emit_tick_metrics

    def figures(tick: dict) -> dict:
        metrics = Metrics(namespace="bbbscale", service="bbbscale")
        emit_tick_metrics(metrics, tick, "region", seconds=0.5)
        document = metrics.serialize_metric_set()
        metrics.clear_metrics()
        return document

    ran = {"load": {"load_units": 10.0}, "actions": [], "desired": {}, "fleet": {}, "problems": []}
    assert figures(ran)[LOAD_UNKNOWN] == [0.0] and figures(ran)["LoadUnits"] == [10.0]
    blind = {**ran, "load": None, "problems": ["Scalelite getMeetings: HTTP 502"]}
    assert figures(blind)[LOAD_UNKNOWN] == [1.0] and "LoadUnits" not in figures(blind)
    held = {"load": None, "actions": [{"action": "hold", "provider": "*", "reason": "lease"}]}
    held |= {"desired": {}, "fleet": {}}
    assert LOAD_UNKNOWN not in figures(held)  # the lease-held document: it read nothing, by design
