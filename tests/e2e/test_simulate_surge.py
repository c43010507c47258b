"""`bbbscale simulate` on a generated school week that departs from what it knows: a late-start day (classes at
half past) and a day that doubles without warning, with no history at all (a fresh install: the replay
learns from its own days as it goes). Before = the per-weekday forecast (no borrowing across school days,
no cold start), after = as shipped; `--policy reactive` for scale. A small fleet, so the run stays short:
8 owned servers and two hourly hosters, a tenth of the seed's rooms."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from bbbsim.schoolday import generate_day
from bbbsim.traces import write_trace
from tests.support.cli_runs import config_file, run_main

MONDAY = date(2026, 11, 30)
SCALE = 0.1  # ~1,500 users at the peak of a usual day, ~3,000 on the doubled one
SMALL_FLEET = {
    "min_servers = 96\nmax_servers = 96\nquota = 96": "min_servers = 8\nmax_servers = 8\nquota = 8",
    "max_servers = 50\nquota = 50": "max_servers = 10\nquota = 10",
    "max_servers = 150\nquota = 150": "max_servers = 20\nquota = 20",
}
BEFORE = "[forecast]\nmin_history_days = 0\ncold_start_users = 0\n\n[state]"  # the per-weekday forecast
AFTER = "[forecast]\ncold_start_users = 1500\n\n[state]"  # the first day expects a usual day's peak


def surge_days() -> list:
    """Monday as usual, Tuesday at half past, Thursday at twice the rooms (no Wednesday: a short run).
    Each day's rooms get their own ids, so no room holds two sessions at once."""
    days = [
        ("usual", generate_day(MONDAY, seed=1, scale=SCALE)),
        ("late", generate_day(MONDAY + timedelta(days=1), seed=2, scale=SCALE, variant="half-past")),
        ("surge", generate_day(MONDAY + timedelta(days=3), seed=3, scale=2 * SCALE)),
    ]
    meetings = [replace(m, meeting_id=f"{name}-{m.meeting_id}") for name, day in days for m in day]
    return sorted(meetings, key=lambda m: (m.start, m.meeting_id))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(configuration file, trace file, policy) of the three replays; the trace written once."""
    folder = tmp_path_factory.mktemp("surge")
    trace = folder / "week.csv"
    write_trace(trace, surge_days())
    runs = {}
    for name, state in (("before", BEFORE), ("after", AFTER), ("reactive", AFTER)):
        config = config_file(folder, f"{name}.toml", replace={**SMALL_FLEET, "[state]": state})
        policy = "reactive" if name == "reactive" else "bbbscale"
        runs[name] = (config, trace, policy)
    return runs


def simulate(capsys, config, trace, policy) -> dict:
    """`bbbscale simulate --config C --trace T --policy P --json`, in-process."""
    return run_main(
        capsys, "simulate", "--config", str(config), "--trace", str(trace), "--policy", policy, "--json"
    ).document()


def test_a_surge_on_a_day_never_seen_is_met_from_its_first_class(runs, capsys):
    before, after, reactive = (simulate(capsys, *runs[name]) for name in ("before", "after", "reactive"))
    for result in (before, after, reactive):
        assert result["killed_meetings"] == 0 and result["rejected_meetings"] == 0
    share = {
        name: r["overloaded_server_minutes"] / r["server_minutes"]
        for name, r in (("before", before), ("after", after), ("reactive", reactive))
    }
    print(
        {
            name: (round(100 * s, 2), r["cost"])
            for (name, s), r in zip(share.items(), (before, after, reactive))
        }
    )
    # Borrowed history, the cold start and the trend against them: far fewer overloaded server-minutes...
    assert share["after"] <= 0.5 * share["before"]
    # ...for less than a reactive scaler pays.
    assert after["cost"] < reactive["cost"]
