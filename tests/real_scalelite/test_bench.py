"""bench/real_scalelite_bursts.py: says why it cannot run without a checkout; with one, its quick run
gives the figures bench/README.md records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real_scalelite.harness import CHECKOUT_VAR, unavailable

BENCH = Path(__file__).resolve().parents[2] / "bench" / "real_scalelite_bursts.py"
KEYS = {
    "scalelite_version",
    "forecast",
    "placeable_cordoned_server_seconds",
    "bursts_with_placeable_cordoned",
    "longest_placeable_cordoned_s",
    "rejected_creates",
    "flaps",
    "flaps_by_choice",
    "repairs",
    "rooms_cv_mean",
    "rooms_cv_max",
    "bursts_without_poll_round",
    "rooms_cv_mean_without_poll_round",
    "rooms_cv_mean_with_poll_round",
    "operator_disable_survived",
    "operator_server_placeable_after_disable_s",
    "per_burst",
    "look_seconds_in_bursts",
    "getservers_seconds_in_bursts",
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.parametrize("spread", ["0", "27"])
def test_a_spread_that_leaves_no_time_for_the_joins_is_refused_before_anything_starts(spread):
    """The creates, the pupils' 30 s of joins and the next bell's ends must fit in a period (60 s)."""
    done = _run(dict(os.environ), "--spread", spread)
    assert done.returncode == 2 and not done.stdout
    assert "--spread must be above 0" in done.stderr and "at most 26 s" in done.stderr


def test_without_a_checkout_the_bench_says_why_in_one_json_line():
    env = {k: v for k, v in os.environ.items() if k != CHECKOUT_VAR}
    done = _run(env)
    assert done.returncode == 2
    assert CHECKOUT_VAR in json.loads(done.stdout)["skipped"]


@pytest.mark.parametrize(
    ("args", "forecast", "spread"),
    [((), "none", 8.0), (("--forecast",), "the last burst's load", 8.0), (("--spread", "20"), "none", 20.0)],
    ids=["plain", "forecast", "creates-over-20-s"],
)
def test_the_quick_run_on_the_real_scalelite_reports_every_figure(args, forecast, spread, tmp_path):
    reason = unavailable()
    if reason:
        pytest.skip(f"real Scalelite: {reason}")
    history = tmp_path / "history.jsonl"
    done = _run(dict(os.environ), "--quick", "--history", str(history), *args)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert KEYS <= set(result) and len(result["per_burst"]) == 2
    assert result["forecast"] == forecast and result["creates_over_s"] == spread
    # what the guard's forecast said at each bell: nothing before a burst was in, then the fleet's load
    said = [p["forecast_units"] for p in result["per_burst"]]
    assert said[0] == 0 and (said[1] > 0) is (forecast != "none")
    assert history.read_text().strip()  # the guard's decisions, each with its reason
    looks = result["look_seconds_in_bursts"]  # the guard looked while the rooms came, and was timed
    assert looks["calls"] > 0 and 0 < looks["p50"] <= looks["p90"] <= looks["max"]
    # the poll rounds of each burst, in seconds after its bell, before its last create
    assert all(all(-2 < t < spread for t in p["poll_rounds_s"]) for p in result["per_burst"])
    polled = sum(1 for p in result["per_burst"] if p["poll_rounds_s"])
    assert result["bursts_without_poll_round"] == 2 - polled
