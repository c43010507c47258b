"""`bbbscale plan`, `tick` and `demo` as an operator runs them (docs/contract.md): the documented keys and
types, totals that add up against the configuration file itself, a dry run that acts on nothing, and
`--json` meaning one JSON document on stdout and nothing else."""

from __future__ import annotations

import json
import re
import struct
import tomllib
from datetime import datetime, time

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chalicelib.config_file import load_settings
from tests.support.cli_runs import DEFAULT_TOML, config_file, run_main, run_program

PROVIDERS = tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))["providers"]
PLAN_KEYS = {
    "users": int,
    "load_units": float,
    "servers": dict,
    "total_servers": int,
    "unmet_servers": int,
    "hourly_cost": (int, float),
    "currency": str,
}
PLAN_EXTRAS = {"needed_units", "reasons"}  # documented extensions; anything else is an unannounced surface
TICK_KEYS = {"at", "dry_run", "load", "desired", "fleet", "actions", "servers"}
LOAD_KEYS = {
    "meetings",
    "breakout_rooms",
    "participants",
    "moderators",
    "voice",
    "listen_only",
    "video_streams",
    "load_units",
}
ACTIONS = {"start", "register", "enable", "cordon", "uncordon", "recordon", "stop", "replace", "hold"}
STATES = {
    "requested",
    "booting",
    "healthy",
    "registered",
    "serving",
    "draining",
    "drained",
    "stopping",
    "failed",
}
# gandi: three servers at any hour; no cold-start forecast (the tick runs at the wall clock's time on a
# fresh store, which in class hours would pre-warm for the timetable: the floor alone is under test here)
FLOOR = {
    "max_servers = 150": "max_servers = 150\nmin_servers = 3",
    "[state]": "[forecast]\ncold_start_users = 0\n\n[state]",
}


# --- plan ------------------------------------------------------------------------------------------------


def assert_plan(plan: dict, users: int) -> None:
    """Contract keys and types; totals consistent with the configuration file's quotas and prices."""
    assert set(PLAN_KEYS) <= set(plan) and set(plan) - set(PLAN_KEYS) <= PLAN_EXTRAS, sorted(plan)
    for key, kind in PLAN_KEYS.items():
        assert isinstance(plan[key], kind) and not isinstance(plan[key], bool), (key, plan[key])
    assert plan["users"] == users and plan["currency"] == "EUR"
    assert set(plan["servers"]) == set(PROVIDERS)
    for name, count in plan["servers"].items():
        assert type(count) is int and 0 <= count <= PROVIDERS[name]["quota"], (name, count)
    assert sum(plan["servers"].values()) == plan["total_servers"]
    cost = sum(n * PROVIDERS[name]["hourly_cost"] for name, n in plan["servers"].items())
    assert plan["hourly_cost"] == pytest.approx(cost, abs=0.01)
    assert plan["unmet_servers"] >= 0


def test_a_closure_day_does_not_fit_the_default_quotas_from_the_shell():
    plan = run_program("plan", "--users", "80000", "--json").document()
    assert_plan(plan, 80000)
    assert plan["unmet_servers"] > 0
    # quotas exhausted: every hourly provider is at its quota before anything is reported unmet
    assert all(plan["servers"][name] == p["quota"] for name, p in PROVIDERS.items())
    assert plan["load_units"] > 0


def test_an_ordinary_day_fits(capsys):
    plan = run_main(capsys, "plan", "--users", "15000", "--json").document()
    assert_plan(plan, 15000)
    assert plan["unmet_servers"] == 0
    assert plan["servers"]["owned"] == PROVIDERS["owned"]["quota"]  # owned first, it costs nothing more
    assert plan["servers"]["ikoula"] >= plan["servers"]["gandi"]  # then the cheaper hoster


def test_plan_for_people_names_providers_and_cost(capsys):
    done = run_main(capsys, "plan", "--users", "80000")
    assert done.status == 0 and done.err == ""
    for word in ("80,000 users", "owned", "gandi", "ikoula", "EUR/h", "quotas cannot supply"):
        assert word in done.out, word
    with pytest.raises(ValueError):
        json.loads(done.out)


@pytest.mark.parametrize("before", [True, False], ids=["before the command", "after it"])
def test_config_and_json_are_taken_before_the_command_as_help_shows_them(tmp_path, capsys, before):
    # `bbbscale [--config PATH] [--json] COMMAND`: given before the command they were dropped (the
    # subcommand's defaults written over them), so `--config fleet.toml tick` ticked the demo fleet.
    fleet = config_file(tmp_path, replace={"quota = 50": "quota = 7"})  # ikoula's quota, 50 by default
    options = ["--config", str(fleet), "--json"]
    argv = [*options, "plan", "--users", "80000"] if before else ["plan", "--users", "80000", *options]
    plan = run_main(capsys, *argv).document()
    assert plan["servers"]["ikoula"] == 7
    broken = config_file(tmp_path, "broken.toml", replace={"quota = 50": "quota = -1"})
    args = ["--config", str(broken), "plan", "--users", "5"]
    run_main(capsys, *(args if before else [*args[2:], *args[:2]])).assert_failed(2, "quota")


def test_more_webcams_need_at_least_as_many_servers(capsys):
    few = run_main(capsys, "plan", "--users", "20000", "--webcam-ratio", "0", "--json").document()
    many = run_main(capsys, "plan", "--users", "20000", "--webcam-ratio", "0.5", "--json").document()
    assert many["load_units"] > few["load_units"]
    assert many["total_servers"] + many["unmet_servers"] >= few["total_servers"] + few["unmet_servers"]


@pytest.mark.parametrize(
    "argv",
    [
        ("--users", "-1"),
        ("--users", "10", "--mic-ratio", "1.5"),
        ("--users", "10", "--webcam-ratio", "nan"),
        ("--users", "10", "--room-size", "0"),
        ("--users", "10", "--room-size", "inf"),
        ("--users", "10", "--room-size", "nan"),
        ("--users", "many"),
        ("--users", "1" + "0" * 400),  # an OverflowError, exit 1
        ("--users", "10", "--room-size", "1e308"),  # the same
    ],
)
def test_impossible_plan_arguments_are_exit_2(capsys, argv):
    run_main(capsys, "plan", *argv, "--json").assert_failed(2, "bbbscale")


@hypothesis_settings(max_examples=60, deadline=None)
@given(users=st.integers(0, 300_000))
def test_every_plan_adds_up_and_more_users_never_need_fewer_servers(users):
    from chalicelib.bootstrap import Wiring

    runtime = Wiring(load_settings())
    plan, bigger = runtime.plan(users), runtime.plan(users + 500)
    assert_plan(plan, users)
    if plan["unmet_servers"]:  # something is unmet only once every provider is at its quota
        assert all(plan["servers"][name] == p["quota"] for name, p in PROVIDERS.items())
    assert bigger["total_servers"] + bigger["unmet_servers"] >= plan["total_servers"] + plan["unmet_servers"]


def test_an_unforeseen_failure_is_still_one_line_and_exit_1(capsys, monkeypatch):
    from chalicelib import cli

    def crash(args, settings):
        raise RuntimeError("wheel fell off\nsecond line")

    monkeypatch.setitem(cli.COMMANDS, "plan", crash)
    run_main(capsys, "plan", "--users", "1", "--json").assert_failed(1, "RuntimeError", "wheel fell off")


# --- tick ------------------------------------------------------------------------------------------------


def assert_tick(result: dict, dry_run: bool) -> None:
    assert TICK_KEYS <= set(result), sorted(result)
    assert datetime.fromisoformat(result["at"]).utcoffset() is not None
    assert result["dry_run"] is dry_run
    assert set(result["load"]) == LOAD_KEYS and isinstance(result["load"]["load_units"], float)
    assert set(result["desired"]) == set(PROVIDERS)
    assert all(type(n) is int and n >= 0 for n in result["desired"].values())
    for provider, states in result["fleet"].items():
        assert provider in PROVIDERS and set(states) <= STATES, (provider, states)
        assert all(type(n) is int and n > 0 for n in states.values())
    for action in result["actions"]:
        assert action["action"] in ACTIONS, action
        assert (
            action["provider"] in PROVIDERS and isinstance(action["reason"], str) and action["reason"].strip()
        )
    counted = {}
    for server in result["servers"]:
        assert server["provider"] in PROVIDERS and server["state"] in STATES and server["name"]
        counted.setdefault(server["provider"], {}).setdefault(server["state"], 0)
        counted[server["provider"]][server["state"]] += 1
    assert counted == result["fleet"]  # the list and the counts tell the same story


@pytest.mark.parametrize("dry_run", [False, True], ids=["acting", "dry-run"])
def test_tick_from_the_shell_prints_one_document(tmp_path, dry_run, state_home):
    done = run_program("tick", *(["--dry-run"] if dry_run else []), "--json", cwd=tmp_path)
    result = done.document()  # json.loads of the whole stdout: one document, nothing else
    assert_tick(result, dry_run)
    assert result["fleet"]["owned"] == {"serving": PROVIDERS["owned"]["min_servers"]}
    # The embedded default keeps its state (and its simulated world) in the user's state directory,
    # never in the working directory.
    assert (state_home / "bbbscale" / "bbbscale.sqlite3").exists()
    assert not list(tmp_path.iterdir())


def test_status_and_history_from_the_shell(tmp_path):
    # what chat shows, for a fleet run without chat (`bbbscale run` on a VM): before, only a new tick
    # (`tick --dry-run`) told what the fleet was, and nothing told why it had changed
    state = tmp_path / "fleet.sqlite3"
    missing = run_program("status", "--state", str(state), "--json")
    missing.assert_failed(1, "no state at", "run `bbbscale tick` first")
    assert not state.exists()  # nothing created by a read
    ticked = run_program("tick", "--state", str(state), "--json").document()
    seen = run_program("status", "--state", str(state), "--json").document()
    assert seen["desired"] == ticked["desired"] and seen["last_tick"] == ticked["at"]
    assert seen["fleet"] == {p: {k: v for k, v in c.items() if v} for p, c in ticked["fleet"].items()}
    text = run_program("status", "--state", str(state)).out
    assert text.startswith("bbbscale status at ") and "  owned: serving 96 (desired 96)" in text
    entries = run_program("history", "--state", str(state), "--kind", "tick", "--json").document()["entries"]
    assert len(entries) == 1 and entries[0]["kind"] == "tick" and entries[0]["at"] == ticked["at"]
    assert "desired owned 96" in entries[0]["summary"]
    lines = run_program("history", "--state", str(state), "--limit", "3").out.splitlines()
    assert len(lines) == 3 and all(" CET [" in line or " CEST [" in line for line in lines)
    run_program("history", "--state", str(state), "--limit", "0").assert_failed(2, "--limit")
    run_program("history", "--state", str(state), "--kind", "weather").assert_failed(2, "--kind")


def test_the_state_path_from_the_environment_then_the_option(tmp_path, state_home):
    # README: BBBSCALE_STATE_PATH places the state file (as it does for `chalice local`); `--state` is
    # the command's own word and comes first. The variable was read by the app only: a tick from the
    # shell wrote ./bbbscale.sqlite3 in the working directory.
    work = tmp_path / "work"
    work.mkdir()
    named = tmp_path / "states" / "fleet.sqlite3"
    done = run_program("tick", "--dry-run", "--json", env={"BBBSCALE_STATE_PATH": str(named)}, cwd=work)
    assert_tick(done.document(), True)
    assert named.exists() and not list(work.iterdir())
    assert not (state_home / "bbbscale").exists()
    option = tmp_path / "option.sqlite3"
    env = {"BBBSCALE_STATE_PATH": str(named)}
    run_program("tick", "--dry-run", "--state", str(option), "--json", env=env, cwd=work).document()
    assert option.exists() and not list(work.iterdir())


def test_a_tick_acts_and_a_dry_run_only_says_what_it_would_do(tmp_path, capsys):
    floor = config_file(tmp_path, replace=FLOOR)
    planned = run_main(capsys, "tick", "--config", str(floor), "--dry-run", "--json").document()
    acted = run_main(capsys, "tick", "--config", str(floor), "--json").document()
    assert_tick(planned, True)
    assert_tick(acted, False)
    for result in (planned, acted):
        assert result["desired"]["gandi"] == 3
        starts = [a for a in result["actions"] if a["action"] == "start"]
        assert [(a["provider"], a["count"]) for a in starts] == [("gandi", 3)]
    assert "gandi" not in planned["fleet"]  # nothing was started
    assert sum(acted["fleet"]["gandi"].values()) == 3


def test_tick_for_people(tmp_path, capsys):
    done = run_main(capsys, "tick", "--config", str(config_file(tmp_path, replace=FLOOR)), "--dry-run")
    assert done.status == 0
    assert "(dry run)" in done.out and "load:" in done.out and "start 3 on gandi" in done.out
    # why gandi wants 3: the operator's floor (min_servers), said beside the action, not only in --json
    assert "  why:     " in done.out and "gandi" in done.out.split("  why:     ", 1)[1].splitlines()[0]


# --- demo ------------------------------------------------------------------------------------------------


def test_a_short_demo_kills_no_class_and_draws_a_png(tmp_path, capsys):
    from bbbsim.demo import run_demo

    plot = tmp_path / "demo.png"
    status = run_demo(
        load_settings(), plot=str(plot), as_json=True, quiet=True, start=time(7, 56), end=time(7, 59)
    )
    out = capsys.readouterr().out
    summary = json.loads(out)
    assert status == 0
    assert summary["killed_meetings"] == 0 and summary["rejected_meetings"] == 0
    assert summary["peak_users"] > 0 and summary["serving_capacity_at_0745"] > 0
    assert summary["plot"] == str(plot)
    head = plot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    assert width > 100 and height > 100


def test_the_demos_last_decision_is_printed_whole(capsys):
    # it was cut at 160 characters, mid-figure: "... last 3 Mondays peaked at 46,10"
    from bbbsim.demo import run_demo

    run_demo(load_settings(), plot=None, as_json=False, quiet=True, start=time(7, 56), end=time(7, 59))
    lines = capsys.readouterr().out.splitlines()
    first = next(i for i, line in enumerate(lines) if "last decision:" in line)
    said = " ".join(line.strip() for line in lines[first:]).split("last decision: ", 1)[1]
    assert len(said) > 160 and said.count("(") == said.count(")")
    assert re.search(r"\); [a-z][^;()]*$", said), (
        said
    )  # whole: the why's parenthesis closed, then the actions
    assert all(len(line) <= 110 for line in lines[first:])


def _one_owned_server(tmp_path, cluster: str, port: int, scalelite: str):
    """A real-provider configuration: one owned server, a Scalelite on loopback `port` with the
    `scalelite` settings lines given, state in `tmp_path`, no forecast."""
    from tests.support.cli_runs import static_fleet

    url = f"http://127.0.0.1:{port}/bigbluebutton/api"
    owned = {"bbb01": "https://bbb01.example.org/bigbluebutton/api"}
    return static_fleet(tmp_path, url, owned, cluster=cluster, scalelite=scalelite)


def test_tick_without_a_reachable_scalelite_holds_prints_its_decision_and_exits_1(tmp_path, monkeypatch):
    """A real-provider configuration whose Scalelite does not answer: the tick holds (no scale-down on no
    data), records and prints its decision, and the exit status says the check failed."""
    import socket

    from tests.support.cli_runs import run_program

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _one_owned_server(tmp_path, "edge", port, "connect_timeout = 0.5\nretries = 0")
    outcome = run_program(
        "tick", "--config", str(config), "--json", env={"BBBSCALE_SCALELITE_SECRET": "lb-secret-not-to-print"}
    )
    assert outcome.status == 1
    document = json.loads(outcome.out)  # still exactly one JSON document on stdout
    assert document["load"] is None and document["problems"]
    assert not [a for a in document["actions"] if a["action"] in ("start", "cordon", "stop")]
    assert len(outcome.err.strip().splitlines()) == 1 and "load not observed" in outcome.err
    assert "lb-secret-not-to-print" not in outcome.out + outcome.err


def test_tick_against_a_hung_scalelite_asks_it_once_not_twice(tmp_path):
    """A Scalelite that accepts connections and never answers (hung Rails, a full proxy queue): the tick
    gives up on getServers at its time limit and does not then wait as long again for getMeetings (at
    the defaults that was 63 s + 63 s, two ticks' time). Counted on the server: the connections of
    getServers' two attempts, none for getMeetings."""
    import socket
    import threading

    from tests.support.cli_runs import run_program

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])  # held open, never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    config = _one_owned_server(
        tmp_path, "hung", port, "connect_timeout = 0.5\nread_timeout = 0.5\nretries = 1"
    )
    try:
        outcome = run_program(
            "tick", "--config", str(config), "--json", env={"BBBSCALE_SCALELITE_SECRET": "lb-secret-hung"}
        )
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert outcome.status == 1
    document = json.loads(outcome.out)
    assert len(accepted) == 2  # getServers, tried twice; getMeetings not asked
    assert document["load"] is None
    assert document["problems"] == [
        document["problems"][0],
        "Scalelite getMeetings not asked: Scalelite gave no answer in time to getServers",
    ]
    assert "getServers failed after 2 attempt(s) (read timeout" in document["problems"][0]
    assert "no load known + headroom" in document["reasons"][-1]
    assert not document["actions"]
