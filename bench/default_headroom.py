"""The default headroom with the burst guard on: the scenarios of bench/guard_frontier.py that the issue's
targets name, replayed at one or more headrooms (guard on, Scalelite's default 60 s poll), with
`reactive` on each week for the cost ratio.

    .venv/bin/python bench/default_headroom.py [--headroom 15,17.5,20] [--only day,week,other]

One replay at a time; prints a Markdown table (recorded in bench/README.md, "The default headroom").
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import guard_frontier as frontier  # noqa: E402
from surge_week import surge_week  # noqa: E402

from bbbsim.schoolday import generate_day, generate_week  # noqa: E402
from chalicelib.config_file import load_settings  # noqa: E402


def scenarios(only: set[str]) -> list[tuple[str, list, list]]:
    out = []
    if "day" in only:
        day = generate_day(frontier.TUESDAY, seed=11, scale=1.6)
        weeks = (1, 2, 3)
        history = [generate_day(frontier.TUESDAY - timedelta(weeks=w), seed=11 + w, scale=1.6) for w in weeks]
        out.append(("day", day, history))
    if "week" in only:
        week = surge_week(1.2, seed=7)
        history = [
            generate_week(frontier.MONDAY - timedelta(weeks=w), seed=7 + w, scale=1.2) for w in (1, 2, 3)
        ]
        out += [("week", week, history), ("week, no history", week, [])]
    if "other" in only:
        out.append(("week seed 11, no history", surge_week(1.2, seed=11), []))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headroom", default="15,17.5,20", help="percentages, comma-separated")
    parser.add_argument("--only", default="day,week,other")
    args = parser.parse_args()
    settings = load_settings(None)
    headrooms = [float(h) for h in args.headroom.split(",")]
    print("| scenario | headroom | cost € | vs reactive | overloaded share | rejected / killed / refused |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, trace, history in scenarios(set(args.only.split(","))):
        reactive = None
        if name.startswith("week"):
            run = {"headroom": 20.0, "guard": False, "poll": 60.0, "policy": "reactive"}
            reactive = frontier.replay(settings, name, trace, history, run, None)["cost"]
        for headroom in headrooms:
            run = {"headroom": headroom, "guard": True, "poll": 60.0, "policy": "bbbscale"}
            r = frontier.replay(settings, name, trace, history, run, None)
            ratio = f"{r['cost'] / reactive:.2f}x" if reactive else "—"
            print(
                f"| {name} | {headroom:g} % | {r['cost']:,.0f} | {ratio} | {100 * r['overloaded_share']:.2f} % "
                f"| {r['rejected_meetings']} / {r['killed_meetings']} / {r['refused_joins']} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
