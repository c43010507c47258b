"""The burst guard of issue 19 against main's, measured in the same run on the same simulated weeks.

Each side is a source tree (this one, and main's exported with `git archive`), run in its own
interpreter with that tree first on sys.path, on the same generated weeks:

- `normal`: a generated school week at 1.2x the seed's rooms, history three normal weeks before it;
- `surge`: bench/surge_week.py's week (Tuesday at half past, Thursday doubled, neither announced),
  history three normal weeks; `surge-nohist`: the same week with none (a user's first try);
  `surge11-nohist`: the same kind of week on another seed, no history;

default configuration (headroom 17.5 %, guard on), Scalelite's poll every `--poll` s with each server's
getMeetings taking `--per-server` s in the poller (4 threads) and each call of the guard's looks
`--latency` s (simulate's `getmeetings_seconds`, `look_latency`), on the simulator of that tree.

    git archive main | tar -x -C /tmp/main-tree
    .venv/bin/python bench/guard_issue19.py --tree . --label h19guard
    .venv/bin/python bench/guard_issue19.py --tree /tmp/main-tree --label main
    .venv/bin/python bench/guard_issue19.py --table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

MONDAY = date(2026, 11, 30)
OUT = Path("out/g19/results.jsonl")


def run(tree: Path, label: str, only: set[str], poll: float, per_server: float, latency: float) -> None:
    sys.path.insert(0, str(tree / "bench"))
    sys.path.insert(0, str(tree))
    import inspect

    from surge_week import surge_week

    from bbbsim import scalelite_model
    from bbbsim.schoolday import generate_week
    from bbbsim.simulate import simulate
    from chalicelib.config_file import load_settings

    knobs = {}
    if "getmeetings_seconds" in inspect.signature(simulate).parameters:
        knobs = {"getmeetings_seconds": per_server, "look_latency": latency}
    else:  # a tree before the simulator took these: its model's attribute, no look latency
        scalelite_model.ScaleliteModel.seconds_per_server = per_server
    settings = load_settings()
    history = [generate_week(MONDAY - timedelta(weeks=w), seed=7 + w, scale=1.2) for w in (1, 2, 3)]
    cases = {
        "normal": (generate_week(MONDAY, seed=7, scale=1.2), history),
        "surge": (surge_week(1.2, seed=7), history),
        "surge-nohist": (surge_week(1.2, seed=7), []),
        "surge11-nohist": (surge_week(1.2, seed=11), []),  # a week no test has seen
    }
    done = {json.loads(line)["key"] for line in OUT.read_text().splitlines()} if OUT.exists() else set()
    for name, (trace, past) in cases.items():
        key = f"{label}|{name}|p{poll:g}|s{per_server:g}|l{latency:g}"
        if name not in only or key in done:
            continue
        began = time.perf_counter()
        result = simulate(settings, trace, "bbbscale", history=past, poll_interval=poll, **knobs)
        result.pop("_samples")
        row = {"key": key, "label": label, "scenario": name, "poll": poll, "per_server": per_server}
        row["look_latency"] = latency if knobs else None
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
        "| scenario | poll / per server / look | guard of | cost € | overloaded server-min (share) | "
        "rejected / killed / refused | guard looks / changes | herding rooms / load |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["scenario"], r["poll"], r["per_server"], r["label"])):
        g, h = r.get("guard") or {}, r.get("herding") or {}
        lines.append(
            f"| {r['scenario']} | {r['poll']:g} s / {r['per_server']:g} s / {r.get('look_latency') or 0:g} s "
            f"| {r['label']} | {r['cost']:,.0f} | "
            f"{r['overloaded_server_minutes']:,} ({100 * r['overloaded_share']:.2f} %) | "
            f"{r['rejected_meetings']} / {r['killed_meetings']} / {r['refused_joins']} | "
            f"{g.get('looks', 0):,} / {g.get('changes', 0):,} | "
            f"{100 * h.get('rooms_cv', 0):.0f} / {100 * h.get('load_cv', 0):.0f} % |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="the source tree to measure")
    parser.add_argument("--label", help="its name in the table")
    parser.add_argument("--only", default="normal,surge,surge-nohist")
    parser.add_argument("--poll", type=float, default=60.0, help="Scalelite's POLL_INTERVAL (s)")
    parser.add_argument(
        "--per-server", type=float, default=0.3, help="the poller's getMeetings per server (s)"
    )
    parser.add_argument("--latency", type=float, default=0.05, help="each call of the guard's looks (s)")
    parser.add_argument("--table", action="store_true", help="print the table of what was measured")
    args = parser.parse_args()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    if args.table:
        print(table())
        return 0
    if args.tree is None or not args.label:
        parser.error("--tree and --label, or --table")
    run(args.tree.resolve(), args.label, set(args.only.split(",")), args.poll, args.per_server, args.latency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
