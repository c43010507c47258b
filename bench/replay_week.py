"""How fast `bbbscale simulate` replays a school week, against a baseline revision, in the same run.

    .venv/bin/python bench/replay_week.py [--baseline-rev HEAD] [--candidate-rev REV] [--runs 3] [--day]
    .venv/bin/python bench/replay_week.py --sparse 30 [--baseline-rev REV]

The trace is the one the speed target is set on: `generate_week(2026-11-30, seed=7, scale=1.6)` (29,762
meetings, 3,424 ticks), bbbscale's forecast learning from three earlier generated weeks (seeds 8-10).
`--day` replays one Tuesday instead (seed 11, history seeds 12-14), for quicker iterations; `--scale`
sizes the school (a smaller one for a quick check; the figures are at 1.6). `--sparse DAYS` replays two
classes of 20 DAYS apart (the idle days between them: Scalelite's poll rounds and the guard's looks; its
work counters, `polls` and `looks`, are printed, not compared). The last of `--day` and `--sparse` wins.

The baseline is the code at `--baseline-rev` (default `HEAD`: the tree on disk against its last commit,
for speed work in progress), exported with `git archive` into a temporary directory; the candidate is
this worktree as it is on disk, or the code at `--candidate-rev`. The figures in bench/README.md are
`--baseline-rev b1519ac --candidate-rev 899effb` (before and after the speed work; later commits changed
decisions on purpose, so comparing them with b1519ac needs `--behaviour-changed`). Each replay runs in a fresh interpreter, baseline and
candidate alternating, so both meet the same load from other jobs on the machine. Wall time and CPU time
(of the replay alone, not the trace generation) are reported; CPU time is the steadier figure on a
shared machine. A speed change must not change a single outcome: the script fails unless every figure
of `simulate --json` except `wall_seconds` is identical between the two, and so is every simulated minute
(users, rooms, load and capacity units to the last bit, servers per provider, desired, overloaded: their
SHA-1 is compared as `samples_sha1`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# Run in the child, with the code under test first on sys.path: prints one JSON line.
REPLAY = r"""
import datetime, hashlib, json, os, sys, time
try:
    from chalicelib.config_file import load_settings
except ImportError:  # a revision from before the loader left config.py
    from chalicelib.config import load_settings
if os.path.isdir("bbbsim"):  # the code under test (the working directory) has the simulator beside it
    from bbbsim.schoolday import generate_day, generate_week
    from bbbsim.simulate import simulate
else:  # a revision from before the simulator left chalicelib (issue 21); never this checkout's bbbsim
    from chalicelib.sim.schoolday import generate_day, generate_week
    from chalicelib.sim.simulate import simulate
settings = load_settings()
scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.6
if sys.argv[1].startswith("sparse:"):
    first = datetime.datetime(2026, 11, 2, 8, 0, tzinfo=datetime.timezone.utc)
    try:
        from bbbsim.traces import TraceMeeting
    except ImportError:
        from chalicelib.sim.traces import TraceMeeting
    trace = [
        TraceMeeting(f"c{d}", first + datetime.timedelta(days=d), first + datetime.timedelta(days=d, hours=1),
                     20, 5, 1, 15)
        for d in (0, int(sys.argv[1].split(":")[1]))
    ]
    history = []
elif sys.argv[1] == "day":
    day = datetime.date(2026, 12, 1)
    trace = generate_day(day, seed=11, scale=scale)
    history = [generate_day(day - datetime.timedelta(weeks=w), seed=11 + w, scale=scale) for w in (1, 2, 3)]
else:
    monday = datetime.date(2026, 11, 30)
    trace = generate_week(monday, seed=7, scale=scale)
    history = [generate_week(monday - datetime.timedelta(weeks=w), seed=7 + w, scale=scale) for w in (1, 2, 3)]
wall, cpu = time.perf_counter(), time.process_time()
result = simulate(settings, trace, "bbbscale", history=history)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
samples = result.pop("_samples")
minutes = repr([(s.at, s.users, s.rooms, s.load_units, s.capacity_units, s.serving, s.running, s.desired,
                 s.overloaded) for s in samples])
result["samples_sha1"] = hashlib.sha1(minutes.encode()).hexdigest()
print(json.dumps({"meetings": len(trace), "wall": wall, "cpu": cpu, "result": result}))
"""


def replay(code: Path, span: str, scale: float = 1.6) -> dict:
    """One replay in a fresh interpreter importing `chalicelib` (and `bbbsim`) from `code`."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, "-c", REPLAY, span, str(scale)],
        cwd=code,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def export(rev: str, into: Path) -> Path:
    """The tree of `rev` in `into` (git archive: no worktree, no checkout of this one touched)."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(HERE), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def figures(result: dict, sparse: bool = False) -> dict:
    """What must not move: every outcome figure but the replay's own wall time (and, over idle days,
    the work counters: Scalelite's poll rounds and the guard's looks)."""
    out = {k: v for k, v in result.items() if k != "wall_seconds"}
    if sparse:
        out["scalelite"] = {k: v for k, v in (out.get("scalelite") or {}).items() if k != "polls"}
        out["guard"] = {k: v for k, v in (out.get("guard") or {}).items() if k != "looks"}
    return out


def work(result: dict) -> str:
    """The work counters of one replay: Scalelite's poll rounds and the guard's looks."""
    return f"{(result.get('scalelite') or {}).get('polls', 0):,} | {(result.get('guard') or {}).get('looks', 0):,}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline-rev",
        default="HEAD",
        help="the revision to compare with (default: HEAD, the last commit; b1519ac is the last commit "
        "before the replay speed work)",
    )
    parser.add_argument("--candidate-rev", help="a revision to measure instead of the tree on disk")
    parser.add_argument("--runs", type=int, default=3, help="replays of each side (alternating)")
    parser.add_argument(
        "--day", dest="span", action="store_const", const="day", default="week", help="one school day"
    )
    parser.add_argument(
        "--sparse",
        dest="span",
        type=lambda days: f"sparse:{int(days)}",
        metavar="DAYS",
        help="two classes DAYS apart instead of the week",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.6,
        help="the school's size (default 1.6, the speed target's; smaller for a quick check)",
    )
    parser.add_argument(
        "--behaviour-changed",
        action="store_true",
        help="the baseline decides differently on purpose: each side must only agree with itself "
        "across runs, and both outcomes are printed",
    )
    args = parser.parse_args()
    span = args.span
    with tempfile.TemporaryDirectory(prefix="bbbscale-baseline-") as tmp:
        sides = {
            "baseline": export(args.baseline_rev, Path(tmp) / "baseline"),
            "candidate": export(args.candidate_rev, Path(tmp) / "candidate") if args.candidate_rev else HERE,
        }
        runs: dict[str, list[dict]] = {name: [] for name in sides}
        for n in range(args.runs):
            for name, code in sides.items():
                run = replay(code, span, args.scale)
                runs[name].append(run)
                print(
                    f"run {n + 1} {name:9s} wall {run['wall']:6.2f} s  cpu {run['cpu']:6.2f} s",
                    file=sys.stderr,
                )
    per_side = {
        name: {json.dumps(figures(r["result"], span.startswith("sparse")), sort_keys=True) for r in side}
        for name, side in runs.items()
    }
    outcomes = set().union(*per_side.values())
    print(
        f"{span}: {runs['candidate'][0]['meetings']:,} meetings, {runs['candidate'][0]['result']['ticks']:,} ticks"
    )
    print(
        f"| code (median of {args.runs}) | wall (s) | CPU (s) | poll rounds | looks |\n|---|---:|---:|---:|---:|"
    )
    medians = {}
    for name, side in runs.items():
        medians[name] = (
            statistics.median(r["wall"] for r in side),
            statistics.median(r["cpu"] for r in side),
        )
        label = f"{name} ({args.baseline_rev if name == 'baseline' else args.candidate_rev or 'this tree'})"
        print(f"| {label} | {medians[name][0]:.1f} | {medians[name][1]:.1f} | {work(side[0]['result'])} |")
    (bw, bc), (cw, cc) = medians["baseline"], medians["candidate"]
    print(f"| **ratio** | **{cw / bw:.2f}x** | **{cc / bc:.2f}x** | | |")
    if args.behaviour_changed:
        if any(len(seen) != 1 for seen in per_side.values()):
            print(
                "A SIDE DISAGREES WITH ITSELF:\n" + json.dumps({k: sorted(v) for k, v in per_side.items()}),
                file=sys.stderr,
            )
            return 1
        for name, seen in per_side.items():
            print(f"{name} outcome: {next(iter(seen))}")
        return 0
    if len(outcomes) != 1:
        print("OUTCOMES DIFFER:\n" + "\n".join(sorted(outcomes)), file=sys.stderr)
        return 1
    print(f"identical outcomes: {outcomes.pop()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
