"""`bbbscale run`'s Prometheus endpoint serves the EMF figures of each tick: the exporter listens on an
ephemeral loopback port, a tick runs in-process on the simulated fleet, and the scrape over HTTP is
compared, name for name and value for value, with the EMF documents the same tick makes on Lambda."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from chalicelib.adapters.metrics.prometheus import MetricsEndpointError, prometheus_name, serving
from chalicelib.config import ConfigError, MetricsSettings
from chalicelib.config_file import load_settings, parse_settings
from chalicelib.observability import NAMESPACE, emit_tick_metrics, metrics
from chalicelib.render import tick_json
from chalicelib.sim.embedded import sim_runtime

T0 = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)  # a Monday of term
LOOPBACK = MetricsSettings(port=0)


def emf_figures(tick: dict, cluster: str, capsys) -> dict[tuple, float]:
    """{(prometheus name, labels): value} of the EMF documents `tick` makes (as Lambda prints them)."""
    capsys.readouterr()
    metrics.clear_metrics()
    emit_tick_metrics(metrics, tick, cluster)
    metrics.flush_metrics()
    figures = {}
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        labels = tuple(sorted((d, document[d]) for d in directive["Dimensions"][0] if d != "service"))
        for metric in directive["Metrics"]:
            name = prometheus_name(metric["Name"], per_provider="provider" in dict(labels))
            value = document[metric["Name"]]
            figures[(name, labels)] = float(value[0] if isinstance(value, list) else value)
    return figures


def scrape(url: str) -> dict[tuple, tuple[str, float]]:
    """{(sample name, labels): (type, value)} of one GET /metrics."""
    response = requests.get(url, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = (family.type, sample.value)
    return found


@pytest.fixture
def tick():
    """One real tick of the simulated fleet (over loopback HTTP to the local Scalelite) with a load."""
    with sim_runtime(load_settings(), T0, http=True) as (rt, world, clock):
        for i in range(200):
            world.create_meeting(
                f"class-{i:03d}", T0, participants=100, moderators=1, voice=10, video=2, listen_only=80
            )
        yield tick_json(rt.tick(now=T0))


def test_a_scrape_carries_the_emf_figures_of_the_tick(tick, capsys):
    assert tick["load"]["participants"] == 20_000 and tick["actions"]  # a busy tick: it starts servers
    with serving(LOOPBACK) as endpoint:
        assert endpoint.address == "127.0.0.1" and endpoint.port > 0
        endpoint.record(tick, "demo")
        scraped = scrape(endpoint.url)
    expected = emf_figures(tick, "demo", capsys)
    gauges = {key: value for key, (kind, value) in scraped.items() if kind == "gauge"}
    gauges.pop(("bbbscale_last_tick_timestamp_seconds", (("cluster", "demo"),)))
    assert gauges == expected
    assert ("bbbscale_load_units", (("cluster", "demo"),)) in expected
    assert ("bbbscale_provider_serving", (("cluster", "demo"), ("provider", "owned"))) in expected
    assert scraped["bbbscale_ticks_total", (("cluster", "demo"),)] == ("counter", 1.0)
    assert (
        scraped["bbbscale_actions_total", (("cluster", "demo"),)][1]
        == expected["bbbscale_actions", (("cluster", "demo"),)]
    )


def test_counts_add_up_over_ticks_and_an_unread_load_is_left_out(tick):
    blind = {**tick, "load": None}
    with serving(LOOPBACK) as endpoint:
        endpoint.record(tick, "demo")
        endpoint.record(blind, "demo")
        scraped = scrape(endpoint.url)
    cluster = (("cluster", "demo"),)
    actions = len([a for a in tick["actions"] if a["action"] != "hold"])
    assert scraped["bbbscale_ticks_total", cluster] == ("counter", 2.0)
    assert scraped["bbbscale_actions_total", cluster] == ("counter", 2.0 * actions)
    assert ("bbbscale_load_units", cluster) not in scraped  # never a zero for a load nobody read
    assert scraped["bbbscale_provider_serving", (*cluster, ("provider", "owned"))][1] == 96


def test_switched_off_taken_or_impossible(tick, capsys):
    with serving(MetricsSettings(enabled=False)) as endpoint:
        assert endpoint is None
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    with serving(MetricsSettings(port=port)) as endpoint:
        # A standby `run` on the same host: it keeps ticking, and takes the port once it is free.
        assert not endpoint.listening and "in use (another bbbscale run?)" in capsys.readouterr().err
        endpoint.record(tick, "demo")
        assert not endpoint.listening
        taken.close()
        endpoint.record(tick, "demo")
        assert endpoint.listening and "came free" in capsys.readouterr().err
        assert scrape(endpoint.url)["bbbscale_ticks_total", (("cluster", "demo"),)] == ("counter", 2.0)
    with pytest.raises(
        MetricsEndpointError, match=r"metrics endpoint 192\.0\.2\.1:9464: .*\[metrics\] address"
    ):
        with serving(MetricsSettings(address="192.0.2.1")):  # TEST-NET-1: not an address of this host
            pass


def test_metrics_settings_are_validated():
    base = {"providers": {"p": {"kind": "simulated"}}}
    assert parse_settings(base).metrics == MetricsSettings(enabled=True, address="127.0.0.1", port=9464)
    with pytest.raises(ConfigError, match=r"metrics\.port"):
        parse_settings({**base, "metrics": {"port": 70000}})
    with pytest.raises(ConfigError, match=r"metrics\.path"):
        parse_settings({**base, "metrics": {"path": "/m"}})


def test_the_prometheus_dashboard_charts_what_the_endpoint_serves(tick):
    """Every series infra/grafana/dashboard-prometheus.json queries is in a real scrape, selected by
    cluster, and every EMF metric bbbscale emits is charted (as in the CloudWatch dashboard)."""
    import re
    from pathlib import Path

    from chalicelib.observability import FLEET_METRICS, LOAD_METRICS

    board = json.loads(
        (Path(__file__).resolve().parents[2] / "infra/grafana/dashboard-prometheus.json").read_text()
    )
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert all('{cluster="$cluster"}' in e for e in exprs)
    queried = {name for e in exprs for name in re.findall(r"bbbscale_[a-z_]+", e)}
    with serving(LOOPBACK) as endpoint:
        endpoint.record(tick, "demo")
        served = {name for name, _ in scrape(endpoint.url)}
    assert queried <= served, queried - served
    emitted = {prometheus_name(n, False) for n in LOAD_METRICS.values()} | {
        prometheus_name(n, True) for n in [*FLEET_METRICS.values(), "Desired"]
    }
    assert emitted <= queried and {"bbbscale_actions_total", "bbbscale_failures_total"} <= queried
