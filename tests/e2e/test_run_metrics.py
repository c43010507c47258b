"""`bbbscale run` as an operator starts it, with a `[metrics]` port: while it runs, GET /metrics on
loopback answers the figures of its ticks (docs/metrics.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli_runs import DEFAULT_TOML, TREE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_run_serves_its_ticks_on_loopback(tmp_path):
    port = free_port()
    config = tmp_path / "fleet.toml"
    config.write_text(DEFAULT_TOML.read_text() + f'\n[metrics]\naddress = "127.0.0.1"\nport = {port}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("BBBSCALE_")}
    env["PYTHONPATH"] = str(TREE)
    run = subprocess.Popen(
        [sys.executable, "-m", "chalicelib", "run", "--json", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        samples, deadline = {}, time.monotonic() + 90
        while time.monotonic() < deadline and not samples.get("bbbscale_ticks_total"):
            assert run.poll() is None, run.communicate()
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except requests.ConnectionError:
                time.sleep(0.3)
                continue
            samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
            time.sleep(0.3)
        assert samples.get("bbbscale_ticks_total") == 1.0, samples
        assert {"bbbscale_servers", "bbbscale_desired_servers", "bbbscale_actions_total"} <= set(samples)
        assert samples["bbbscale_last_tick_timestamp_seconds"] > time.time() - 120
        assert 0 < samples["bbbscale_tick_duration_seconds"] < 90  # the tick's own wall-clock time
        # what the alert rules read (infra/prometheus/alerts.yml): the load was read; the guard's failure
        # count is there from the first tick, at 0, so increase() sees the first failure
        assert samples["bbbscale_load_unknown"] == 0.0 and samples["bbbscale_guard_failures_total"] == 0.0
        assert samples["bbbscale_tick_failures_total"] == 0.0  # there before any failure: increase() sees one
    finally:
        run.terminate()
        out, err = run.communicate(timeout=30)
    assert f"metrics: http://127.0.0.1:{port}/metrics" in err
    assert out.splitlines() and all(
        line.startswith("{") for line in out.splitlines()
    )  # stdout: the ticks only
