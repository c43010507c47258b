"""Surge weeks on Scalelite's true semantics (issue 19): this tree against main's, in the same run.

The weeks of bench/guard_issue19.py (`normal`, `surge`, `surge-nohist`, `surge11-nohist`) plus
`surge13-nohist` (a third seed), replayed with Scalelite's poll every 60 s, each server's getMeetings
0.3 s in the poller and each call of the guard's looks 50 ms, each side in its own interpreter with its
tree first on sys.path. `--poller-threads` is Scalelite's POLLER_THREADS (default 5, v1.6.1's: 4
workers; a round is cut 15 s in, so at 0.3 s a getMeetings it reaches ~200 servers):

    git archive main | tar -x -C /tmp/main-tree
    .venv/bin/python bench/surge_issue19.py --tree /tmp/main-tree --label main
    .venv/bin/python bench/surge_issue19.py --tree . --label h19surge
    .venv/bin/python bench/surge_issue19.py --tree . --label h19surge --poller-threads 8
    .venv/bin/python bench/surge_issue19.py --table

Each replay appends one JSON line to out/s19/results.jsonl (skipped when already there).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

MONDAY = date(2026, 11, 30)
OUT = Path("out/s19/results.jsonl")  # --out changes it (the documented quick run writes its own)
SCENARIOS = ("normal", "surge", "surge-nohist", "surge11-nohist", "surge13-nohist")


def _simulator(tree: Path):
    """The simulator of the tree under test: `bbbsim` beside its chalicelib, or, in a revision from
    before issue 21 moved it, `chalicelib.sim` (never this checkout's bbbsim over an older tree)."""
    import importlib

    package = "bbbsim" if (tree / "bbbsim").is_dir() else "chalicelib.sim"
    return tuple(
        importlib.import_module(f"{package}.{name}") for name in ("schoolday", "scalelite_poller", "simulate")
    )


def cases(tree: Path, only: set[str], scale: float):
    """{name: (week, history)} of the scenarios asked for."""
    from surge_week import surge_week

    generate_week = _simulator(tree)[0].generate_week
    history = [generate_week(MONDAY - timedelta(weeks=w), seed=7 + w, scale=scale) for w in (1, 2, 3)]
    out = {}
    for name in only:
        if name == "normal":
            out[name] = (generate_week(MONDAY, seed=7, scale=scale), history)
        elif name == "surge":
            out[name] = (surge_week(scale, seed=7), history)
        else:
            seed = int(name.removeprefix("surge").removesuffix("-nohist") or 7)
            out[name] = (surge_week(scale, seed=seed), [])
    return out


def run(tree: Path, label: str, only: list[str], threads: int, scale: float) -> None:
    sys.path.insert(0, str(tree / "bench"))
    sys.path.insert(0, str(tree))
    from chalicelib.config_file import load_settings

    _, scalelite_poller, simulation = _simulator(tree)
    simulate = simulation.simulate

    scalelite_poller.ScalelitePoller.poll_threads = threads - 1  # poll.rake: POLLER_THREADS - 1 workers
    settings = load_settings()
    done = {json.loads(line)["key"] for line in OUT.read_text().splitlines()} if OUT.exists() else set()
    weeks = cases(tree, {n for n in only if f"{label}|{n}|t{threads}" not in done}, scale)
    for name in only:
        key = f"{label}|{name}|t{threads}"
        if name not in weeks:
            continue
        trace, past = weeks[name]
        began = time.perf_counter()
        result = simulate(
            settings, trace, "bbbscale", history=past, getmeetings_seconds=0.3, look_latency=0.05
        )
        result.pop("_samples")
        row = {"key": key, "label": label, "scenario": name, "poller_threads": threads}
        row.update(result, wall=round(time.perf_counter() - began, 1))
        with OUT.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            f"{key}: {result['cost']} € overloaded {100 * result['overloaded_share']:.2f} % rejected "
            f"{result['rejected_meetings']} killed {result['killed_meetings']} refused {result['refused_joins']}",
            file=sys.stderr,
            flush=True,
        )


def table() -> str:
    rows = [json.loads(line) for line in OUT.read_text().splitlines()]
    lines = [
        "| week | POLLER_THREADS | tree | cost € | overloaded server-min (share) | of which Thursday | "
        "rejected / killed / refused | peak servers |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    order = {name: i for i, name in enumerate(SCENARIOS)}
    for r in sorted(rows, key=lambda r: (order.get(r["scenario"], 9), r["poller_threads"], r["label"])):
        thursday = r["overloaded_by_day"].get("2026-12-03", 0)
        lines.append(
            f"| {r['scenario']} | {r['poller_threads']} | {r['label']} | {r['cost']:,.0f} | "
            f"{r['overloaded_server_minutes']:,} ({100 * r['overloaded_share']:.2f} %) | {thursday:,} | "
            f"{r['rejected_meetings']} / {r['killed_meetings']} / {r['refused_joins']} | {r['peak_servers']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="the source tree to measure")
    parser.add_argument("--label", help="its name in the table")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--poller-threads", type=int, default=5, help="Scalelite's POLLER_THREADS")
    parser.add_argument("--table", action="store_true", help="print the table of what was measured")
    parser.add_argument(
        "--scale", type=float, default=1.2, help="the weeks' size (1.2: ~300 servers at peak)"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where the rows go (JSON lines)")
    args = parser.parse_args()
    globals()["OUT"] = args.out
    OUT.parent.mkdir(parents=True, exist_ok=True)
    if args.table:
        print(table())
        return 0
    if args.tree is None or not args.label:
        parser.error("--tree and --label, or --table")
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown or args.poller_threads < 2:
        parser.error(f"unknown scenario(s) {sorted(unknown)}" if unknown else "--poller-threads >= 2")
    run(args.tree.resolve(), args.label, args.only.split(","), args.poller_threads, args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
