#!/usr/bin/env python3
"""Write the full-size traces (not committed) and time their generation.

    .venv/bin/python bench/make_traces.py [--out out/traces] [--seed 1] [--monday 2026-11-23]

Writes (plus day.csv, the Monday alone), each with its generation time and figures on stderr:
  week.csv               a school week at the seed's scale (~19,000 sessions, peak ~15,000 users)
  week-30k.csv           a school week of ~30,000 sessions (scale 1.6), the replay benchmark's size
  closure-day.csv        a regional closure order: 80,000 simultaneous users
  week-half-past.csv     classes at :30, not on the timetable's hours
  week-friday-surge.csv  an unusual Friday afternoon, twice the usual rooms
The generator is the package's own (`bbbscale trace`, bbbsim/trace_command.py); this script
adds the timings. No network.

Measured 2026-11-23 on the 2-core dev machine (seed 1): week 18,595 sessions in 0.33 s (peak 15,120 users,
1,007 rooms, 587 webcams, 5,550 mics, 1,700 rooms); week-30k 29,906 sessions in 0.49 s; closure day
21,684 sessions in 0.40 s (peak 78,133 users). Budget: < 2 s for a week.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bbbsim.trace_command import DEFAULT_MONDAY, trace_line, write_traces  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/traces", help="directory to write (default: out/traces)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--monday", type=date.fromisoformat, default=DEFAULT_MONDAY)
    args = parser.parse_args()
    if args.monday.weekday() != 0:
        parser.error(f"--monday {args.monday} is not a Monday")
    for name, figures in write_traces(Path(args.out), args.monday, args.seed).items():
        print(trace_line(name, figures), file=sys.stderr)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
