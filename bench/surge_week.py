"""Issue 11 (4): a surge seen from the first class. A generated school week with a late-start day (Tuesday,
every class at half past) and an unannounced doubling day (Thursday, twice the rooms), replayed by
`bbbscale simulate` with the forecast of a baseline revision (before) and of this tree (after), and with
`--policy reactive`, each in a fresh interpreter.

    .venv/bin/python bench/surge_week.py [--scale 1.2] [--baseline-rev 199abc9] [--jobs 1] [--out out/surge]

Two ways to meet the week: with no history at all (a fresh install, or a user trying `simulate` on one
week: the replay records its own days and learns from them as it goes), and with three earlier normal weeks
as history (`--history`). The trace files are written to `--out`, so each run can be repeated by hand:

    .venv/bin/bbbscale simulate --trace out/surge/week.csv [--history out/surge/h1.csv ...] --json

Prints one JSON line per replay, then the Markdown table recorded in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from replay_week import export  # the script beside this one: one way to export a revision

HERE = Path(__file__).resolve().parent.parent

MONDAY = date(2026, 11, 30)
LATE, SURGE = MONDAY + timedelta(days=1), MONDAY + timedelta(days=3)

# One replay: `simulate` as the CLI runs it, plus each day's overloaded server-minutes from the samples.
REPLAY = """
import json, sys
from collections import Counter
from zoneinfo import ZoneInfo
try:
    from chalicelib.config_file import load_settings
except ImportError:  # a revision from before the loader left config.py
    from chalicelib.config import load_settings
from bbbsim.simulate import simulate
from bbbsim.traces import read_trace
week, policy, *history = sys.argv[1:]
settings = load_settings()
result = simulate(settings, read_trace(week), policy, history=[read_trace(h) for h in history])
tz = ZoneInfo(settings.timezone)
days, spend = Counter(), Counter()
price = {name: p.hourly_cost / 60 for name, p in settings.providers.items() if p.mode != "static"}
for s in result.pop("_samples"):
    day = s.at.astimezone(tz).strftime("%a")
    days[day] += s.overloaded
    spend[day] += sum(n * price.get(name, 0.0) for name, n in s.running.items())
result["overloaded_by_day"] = dict(days)
result["running_cost_by_day"] = {day: round(v, 1) for day, v in spend.items()}
print(json.dumps(result))
"""


def surge_week(scale: float, seed: int = 7) -> list:
    """The week: Monday, Wednesday and Friday as generated; Tuesday at half past; Thursday doubled. The
    replaced days' rooms get their own ids, so no room holds two sessions at once."""
    from bbbsim.schoolday import generate_day, generate_week

    normal = [m for m in generate_week(MONDAY, seed=seed, scale=scale) if m.start.date() not in (LATE, SURGE)]
    late = generate_day(LATE, seed=seed + 100, scale=scale, variant="half-past")
    surge = generate_day(SURGE, seed=seed + 200, scale=2 * scale)
    renamed = [replace(m, meeting_id=f"late-{m.meeting_id}") for m in late]
    renamed += [replace(m, meeting_id=f"surge-{m.meeting_id}") for m in surge]
    return sorted(normal + renamed, key=lambda m: (m.start, m.meeting_id))


def write_traces(out: Path, scale: float, seed: int = 7) -> tuple[Path, list[Path]]:
    """The week and three earlier normal weeks (other seeds), as CSV trace files."""
    from bbbsim.schoolday import generate_week
    from bbbsim.traces import write_trace

    out.mkdir(parents=True, exist_ok=True)
    week = out / "week.csv"
    write_trace(week, surge_week(scale, seed))
    history = []
    for weeks in (1, 2, 3):
        path = out / f"h{weeks}.csv"
        write_trace(path, generate_week(MONDAY - timedelta(weeks=weeks), seed=seed + weeks, scale=scale))
        history.append(path)
    return week, history


def replay(job: tuple) -> dict:
    """One replay in a fresh interpreter importing `chalicelib` from `code`."""
    label, code, week, policy, history = job
    env = {**os.environ, "PYTHONPATH": str(code)}
    args = [sys.executable, "-c", REPLAY, str(week), policy, *map(str, history)]
    done = subprocess.run(args, cwd=code, env=env, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["label"] = label
    print(json.dumps(result), flush=True)
    return result


def table(rows: list[dict]) -> str:
    lines = [
        "| history | scaler | cost € | cost/oracle | overloaded server-min (share) | on Thu (doubled) | on Tue "
        "(late) | rejected / killed | peak servers |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        share = 100.0 * r["overloaded_server_minutes"] / max(r["server_minutes"], 1)
        days = r["overloaded_by_day"]
        ratio = f"{r['cost'] / r['oracle_cost']:.2f}x" if r["oracle_cost"] else "n/a"
        lines.append(
            f"| {r['label']} | {r['cost']:,.0f} | {ratio} | {r['overloaded_server_minutes']:,} ({share:.2f} %) | "
            f"{days.get('Thu', 0):,} | {days.get('Tue', 0):,} | {r['rejected_meetings']} / "
            f"{r['killed_meetings']} | {r['peak_servers']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.2, help="rooms x the seed's (Thursday: twice this)")
    parser.add_argument("--baseline-rev", default="199abc9", help="the code before (git revision)")
    parser.add_argument("--jobs", type=int, default=1, help="replays side by side")
    parser.add_argument("--out", default="out/surge")
    parser.add_argument("--seed", type=int, default=7, help="the generator's seed (history: seed+1..3)")
    parser.add_argument("--only-history", choices=("none", "3 weeks"), help="one of the two ways only")
    parser.add_argument("--skip", action="append", default=[], choices=("reactive", "before", "after"))
    args = parser.parse_args()
    week, history = write_traces(Path(args.out).resolve(), args.scale, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        # the baseline only when it is replayed (a shallow clone has not got it)
        before = export(args.baseline_rev, Path(tmp) / "before") if "before" not in args.skip else HERE
        jobs = [("none | reactive", HERE, week, "reactive", [])] if "reactive" not in args.skip else []
        for name, past in (("none", []), ("3 weeks", history)):
            if args.only_history in (None, name):
                if "before" not in args.skip:
                    jobs.append(
                        (f"{name} | bbbscale before ({args.baseline_rev})", before, week, "bbbscale", past)
                    )
                if "after" not in args.skip:
                    jobs.append((f"{name} | bbbscale after", HERE, week, "bbbscale", past))
        with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            rows = list(pool.map(replay, jobs))
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
