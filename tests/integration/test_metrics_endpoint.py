"""`bbbscale run`'s Prometheus endpoint serves the EMF figures of each tick: the exporter listens on an
ephemeral loopback port, a tick runs in-process on the simulated fleet, and the scrape over HTTP is
compared, figure for figure (`EMF_TO_PROMETHEUS`), with the EMF documents the same tick makes on Lambda.
Each scrape is read by prometheus_client's own parsers: the text format's and, asked for it, the
OpenMetrics one (which refuses a gauge and a counter sharing a family name)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from bbbsim.embedded import sim_runtime
from chalicelib.adapters.metrics.prometheus import COUNTERS, EMF_TO_PROMETHEUS, MetricsEndpointError, serving
from chalicelib.config import ConfigError, MetricsSettings
from chalicelib.config_file import load_settings, parse_settings
from chalicelib.observability import NAMESPACE, emit_tick_metrics, metrics
from chalicelib.render import tick_json

T0 = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)  # a Monday of term
LOOPBACK = MetricsSettings(port=0)


def emf_figures(tick: dict, cluster: str, capsys, seconds: float | None = None) -> dict[tuple, float]:
    """{(prometheus name, labels): value} of the EMF documents `tick` makes (as Lambda prints them),
    each gauge figure where EMF_TO_PROMETHEUS puts it; the per-tick counts by their EMF name."""
    capsys.readouterr()
    metrics.clear_metrics()
    emit_tick_metrics(metrics, tick, cluster, seconds=seconds)
    metrics.flush_metrics()
    figures = {}
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        labels = tuple(sorted((d, document[d]) for d in directive["Dimensions"][0] if d != "service"))
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            value = float(value[0] if isinstance(value, list) else value)
            key = ("provider:" if "provider" in dict(labels) else "") + metric["Name"]
            if key not in EMF_TO_PROMETHEUS:
                assert metric["Name"] in COUNTERS, f"EMF {key} has no Prometheus series"
                figures[(metric["Name"], labels)] = value
                continue
            name, fixed, factor = EMF_TO_PROMETHEUS[key]
            figures[(name, tuple(sorted([*labels, *fixed.items()])))] = value * factor
    return figures


def scrape(url: str) -> dict[tuple, tuple[str, float]]:
    """{(sample name, labels): (type, value)} of one GET /metrics, read by the text format's parser,
    after checking that the same endpoint's OpenMetrics page parses to the same samples."""
    response = requests.get(url, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue  # prometheus_client's creation time of a counter: not a figure of ours
            found[(sample.name, tuple(sorted(sample.labels.items())))] = (family.type, sample.value)
    opened = requests.get(url, timeout=5, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert opened.headers["Content-Type"].startswith("application/openmetrics-text")
    assert opened.text.endswith("# EOF\n")
    again = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in openmetrics_families(opened.text)  # raises on a clash, a bad name or unit
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
    assert again == {key: value for key, (_, value) in found.items()}
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
        endpoint.record(tick, "demo", seconds=1.25)
        scraped = scrape(endpoint.url)
    expected = emf_figures(tick, "demo", capsys, seconds=1.25)
    cluster = (("cluster", "demo"),)
    counts = {key: expected.pop(key) for key in list(expected) if key[0] in COUNTERS}
    gauges = {key: value for key, (kind, value) in scraped.items() if kind == "gauge"}
    gauges.pop(("bbbscale_last_tick_timestamp_seconds", cluster))
    assert gauges == expected
    assert ("bbbscale_load_units", cluster) in expected
    assert expected["bbbscale_tick_duration_seconds", cluster] == 1.25  # the tick's wall-clock time
    assert expected["bbbscale_load_unknown", cluster] == 0.0
    assert ("bbbscale_servers", (*cluster, ("provider", "owned"), ("state", "serving"))) in expected
    assert scraped["bbbscale_ticks_total", cluster] == ("counter", 1.0)
    counters = {key: value for key, (kind, value) in scraped.items() if kind == "counter"}
    for emf, series in (
        ("Actions", "bbbscale_actions_total"),
        ("Failures", "bbbscale_action_failures_total"),
    ):
        assert sum(v for (name, _), v in counters.items() if name == series) == counts[emf, cluster]
    assert counters["bbbscale_guard_changes_total", cluster] == 0.0  # no guard change in this tick


def test_counts_add_up_over_ticks_and_an_unread_load_is_left_out(tick):
    blind = {**tick, "load": None}
    with serving(LOOPBACK) as endpoint:
        endpoint.record(tick, "demo")
        endpoint.record(blind, "demo")
        scraped = scrape(endpoint.url)
    cluster = (("cluster", "demo"),)
    actions = len([a for a in tick["actions"] if a["action"] != "hold"])
    assert scraped["bbbscale_ticks_total", cluster] == ("counter", 2.0)
    total = sum(v for (name, _), (_, v) in scraped.items() if name == "bbbscale_actions_total")
    assert total == 2.0 * actions
    assert ("bbbscale_load_units", cluster) not in scraped  # never a zero for a load nobody read
    assert scraped["bbbscale_load_unknown", cluster] == ("gauge", 1.0)
    with serving(LOOPBACK) as endpoint:
        endpoint.record(blind, "demo")
        endpoint.record({"load": None, "actions": [], "desired": {}, "fleet": {}}, "demo")  # lease held
        assert scrape(endpoint.url)["bbbscale_load_unknown", cluster] == ("gauge", 1.0)  # it read nothing
        endpoint.record(tick, "demo")
        assert scrape(endpoint.url)["bbbscale_load_unknown", cluster] == ("gauge", 0.0)
    assert scraped["bbbscale_servers", (*cluster, ("provider", "owned"), ("state", "serving"))][1] == 96


def test_herding_is_a_ratio_and_the_guard_counts_its_changes(tick, capsys):
    burst = {**tick, "herding": {"rooms_cv": 0.25, "load_cv": 0.125, "overloaded": 2}, "guard": ["a", "b"]}
    with serving(LOOPBACK) as endpoint:
        endpoint.record(burst, "demo")
        endpoint.record({**tick, "guard": ["c"]}, "demo")
        scraped = scrape(endpoint.url)
    cluster = (("cluster", "demo"),)
    assert scraped["bbbscale_herding_rooms_cv_ratio", cluster] == ("gauge", 0.25)
    assert scraped["bbbscale_herding_load_cv_ratio", cluster] == ("gauge", 0.125)
    assert scraped["bbbscale_herding_overloaded_servers", cluster] == ("gauge", 2.0)
    assert scraped["bbbscale_herding_measurements_total", cluster] == ("counter", 1.0)
    assert scraped["bbbscale_guard_changes_total", cluster] == ("counter", 3.0)
    # the EMF figures of the burst, where the mapping puts them (percent on CloudWatch, ratio here)
    expected = emf_figures(burst, "demo", capsys)
    assert expected["bbbscale_herding_rooms_cv_ratio", cluster] == 0.25


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

    board = json.loads(
        (Path(__file__).resolve().parents[2] / "infra/grafana/dashboard-prometheus.json").read_text()
    )
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert all('cluster="$cluster"' in e for e in exprs)
    queried = {name for e in exprs for name in re.findall(r"bbbscale_[a-z_]+", e)}
    herding = {**tick, "herding": {"rooms_cv": 0.2, "load_cv": 0.1, "overloaded": 1}, "guard": ["x"]}
    with serving(LOOPBACK) as endpoint:
        endpoint.record(herding, "demo", seconds=0.5)
        served = {name for name, _ in scrape(endpoint.url)}
    assert queried <= served, queried - served
    charted = {name for name, _, _ in EMF_TO_PROMETHEUS.values()} | set(COUNTERS.values())
    assert charted <= queried, charted - queried


def test_the_alert_rules_and_their_tests_read_what_the_endpoint_serves(tick):
    """Every bbbscale series infra/prometheus/alerts.yml reads, and every input series of its promtool
    tests (alerts_test.yml), is in a real scrape with the same label names: an alert on a name the
    endpoint does not serve would never fire, and its tests would prove nothing."""
    import re
    from pathlib import Path

    import yaml

    folder = Path(__file__).resolve().parents[2] / "infra/prometheus"
    rules = yaml.safe_load((folder / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    read = {name for e in exprs for name in re.findall(r"bbbscale_[a-z_]+", e)}
    tests = yaml.safe_load((folder / "alerts_test.yml").read_text())
    inputs = {}
    for case in tests["tests"]:
        for series in case["input_series"]:
            name, labels = re.fullmatch(r"(\w+)\{(.*)\}", series["series"]).groups()
            inputs[name] = {pair.split("=")[0].strip() for pair in labels.split(",")}
    blind = {**tick, "load": None, "problems": ["Scalelite getMeetings: HTTP 502"]}
    with serving(LOOPBACK) as endpoint:
        endpoint.collector.crashed("OperationalError", "demo")  # as `bbbscale run` counts a tick that raised
        endpoint.record(blind, "demo", seconds=0.5)
        served: dict[str, set[str]] = {}
        for name, labels in scrape(endpoint.url):
            served.setdefault(name, set()).update(label for label, _ in labels)
    assert read <= set(served), read - set(served)
    for name, labels in inputs.items():
        if name == "up":  # Prometheus' own series of each scrape (job, instance)
            assert labels == {"job", "instance"}
            continue
        assert name in served and labels == served[name], (name, labels, served.get(name))
