#!/usr/bin/env python3
"""Write the full-size traces (not committed) and time their generation.

    .venv/bin/python bench/make_traces.py [--out out/traces] [--seed 1] [--monday 2026-11-23]

Writes, each with its generation time and figures on stderr:
  week.csv               a school week at the seed's scale (~19,000 sessions, peak ~15,000 users)
  week-30k.csv           a school week of ~30,000 sessions (scale 1.6), the replay benchmark's size
  closure-day.csv        a regional closure order: 80,000 simultaneous users
  week-half-past.csv     classes at :30, not on the timetable's hours
  week-friday-surge.csv  an unusual Friday afternoon, twice the usual rooms
Needs only this repository's chalicelib (no `bbbscale` command, no network).

Measured 2026-11-23 on the 2-core dev machine (seed 1): week 18,595 sessions in 0.33 s (peak 15,120 users,
1,007 rooms, 587 webcams, 5,550 mics, 1,700 rooms); week-30k 29,906 sessions in 0.49 s; closure day
21,684 sessions in 0.40 s (peak 78,133 users). Budget: < 2 s for a week.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.sim.schoolday import generate_closure_day, generate_week  # noqa: E402
from chalicelib.sim.traces import trace_figures, write_trace  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/traces", help="directory to write (default: out/traces)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--monday", type=date.fromisoformat, default=date(2026, 11, 23))
    args = parser.parse_args()
    if args.monday.weekday() != 0:
        parser.error(f"--monday {args.monday} is not a Monday")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = {
        "week.csv": lambda: generate_week(args.monday, args.seed),
        "week-30k.csv": lambda: generate_week(args.monday, args.seed, scale=1.6),
        "closure-day.csv": lambda: generate_closure_day(args.monday + timedelta(days=1), args.seed),
        "week-half-past.csv": lambda: generate_week(args.monday, args.seed, variant="half-past"),
        "week-friday-surge.csv": lambda: generate_week(args.monday, args.seed, variant="friday-surge"),
        # issue 11: Tuesday's classes start 90 min late and Thursday doubles, neither announced
        "week-surprises.csv": lambda: generate_week(
            args.monday,
            args.seed,
            scale=1.6,
            shifts={args.monday + timedelta(days=1): 90},
            day_scale={args.monday + timedelta(days=3): 2.0},
        ),
        # the three weeks before at 1.6x (same school: the same rooms), for --history
        **{
            f"history-{w}.csv": (
                lambda w=w: generate_week(args.monday - timedelta(weeks=w), args.seed + w, scale=1.6)
            )
            for w in (1, 2, 3)
        },
    }
    for name, job in jobs.items():
        started = time.perf_counter()
        meetings = job()
        generated = time.perf_counter() - started
        write_trace(out / name, meetings)
        f = trace_figures(meetings)
        print(
            f"{name:24} {f.sessions:>6} sessions  generated in {generated:5.2f} s  peak {f.peak_users:,} users "
            f"{f.peak_rooms:,} rooms {f.peak_webcams:,} webcams {f.peak_mics:,} mics  {f.rooms:,} rooms",
            file=sys.stderr,
        )
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
