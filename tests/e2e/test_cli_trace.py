"""`bbbscale trace` writes the traces `simulate` reads; `simulate`'s text output is flat and says what
is absent in words; `tick` keeps the built-in configuration's state in the user's state directory."""

from __future__ import annotations

import json

from bbbsim.simulate import result_lines
from bbbsim.traces import read_trace, trace_figures
from tests.support.cli_runs import run_main


def test_trace_writes_the_named_traces_and_says_what_it_wrote(tmp_path, capsys):
    out = tmp_path / "traces"
    done = run_main(
        capsys, "trace", "--out", str(out), "--only", "day.csv", "--only", "history-1.csv", "--json"
    )
    assert done.status == 0, done.err
    document = json.loads(done.out)
    assert sorted(document["traces"]) == ["day.csv", "history-1.csv"]
    assert sorted(p.name for p in out.iterdir()) == ["day.csv", "history-1.csv"]
    day = read_trace(out / "day.csv")
    assert document["traces"]["day.csv"]["sessions"] == len(day) == trace_figures(day).sessions
    assert {m.start.date().isoformat() for m in day} == {"2026-11-23"}  # the default Monday alone
    # the same seed and week: the same trace, byte for byte
    again = run_main(capsys, "trace", "--out", str(tmp_path / "again"), "--only", "day.csv")
    assert again.status == 0 and "day.csv" in again.out
    assert (tmp_path / "again" / "day.csv").read_bytes() == (out / "day.csv").read_bytes()


def test_trace_scale_shrinks_the_school(tmp_path, capsys):
    run_main(capsys, "trace", "--out", str(tmp_path / "a"), "--only", "day.csv")
    small = run_main(capsys, "trace", "--out", str(tmp_path / "b"), "--only", "day.csv", "--scale", "0.1")
    assert small.status == 0
    full, tenth = (len(read_trace(tmp_path / d / "day.csv")) for d in ("a", "b"))
    assert 0 < tenth < full / 5


def test_trace_refuses_bad_usage_in_one_line(tmp_path, capsys):
    for args, said in (
        (("--monday", "2026-11-24"), "is not a Monday"),
        (("--monday", "2026-13-01"), "'2026-13-01' is not a day YYYY-MM-DD"),  # was "invalid _day value"
        (("--only", "weak.csv"), "unknown trace weak.csv"),
        (("--scale", "0"), "--scale must be > 0"),
        (("--scale", "1e9"), "at most 10"),  # it ran out of memory (3.8 GB in 20 s)
        (("--monday", "0001-01-01"), "not in the years 1971-2999"),
    ):
        done = run_main(capsys, "trace", "--out", str(tmp_path / "t"), *args)
        assert done.status == 2 and said in done.err and done.err.count("\n") == 1, done.err
    assert not (tmp_path / "t").exists() or not list((tmp_path / "t").iterdir())
    late = run_main(capsys, "demo", "--end", "25:99")
    assert late.status == 2 and "'25:99' is not a local time HH:MM" in late.err, late.err


def test_simulate_text_output_is_flat_and_has_no_none():
    lines = result_lines(
        {
            "policy": "bbbscale",
            "cost_vs_oracle": None,
            "guard": {"looks": 12, "changes": 3},
            "herding": None,
            "overloaded_by_day": {},
        }
    )
    text = "\n".join(lines)
    assert "None" not in text and "{" not in text
    assert "guard.looks: 12" in text and "guard.changes: 3" in text
    assert "cost_vs_oracle: n/a (the oracle costs nothing" in text
    assert "herding: no class start measured" in text and "overloaded_by_day: none" in text


def test_a_dry_run_tick_leaves_nothing_in_the_working_directory(tmp_path, capsys, monkeypatch, state_home):
    monkeypatch.chdir(tmp_path)
    done = run_main(capsys, "tick", "--dry-run", "--json")
    assert done.status == 0, done.err
    assert not list(tmp_path.iterdir())
    assert (state_home / "bbbscale" / "bbbscale.sqlite3").exists()
    elsewhere = tmp_path.parent / "elsewhere" / "state.sqlite3"
    assert run_main(capsys, "tick", "--dry-run", "--state", str(elsewhere), "--json").status == 0
    assert elsewhere.exists() and not list(tmp_path.iterdir())
