"""Kill the burst guard mid-burst: real `bbbscale run` processes on one SQLite file (issue 19).

    .venv/bin/python bench/kill_guard.py                      # 3 runs, then the baseline commit once
    .venv/bin/python bench/kill_guard.py --runs 1 --baseline ""   # ours only

Each run (tests/support/kill_guard.py, `kill_mid_burst`): two `run` processes of the simulated fault
fleet on a clock 10x real time from 07:58:30 (Paris), a burst herded onto one server, the guard cordons
it; SIGKILL of the process whose guard holds the guard lease (timed: until the other process's guard
holds it), then of the other one; then `bbbscale tick` processes until the cordon is released (timed from
the last guard's death). The baseline is the same scenario on a checkout of `--baseline` (default
c70e7fa, before the guard lease and the cordons' expiry), read with `git archive`, both processes killed
at once: its cordon is never released, so it is watched for `--give-up` simulated minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.kill_guard import GuardFleet  # noqa: E402

START = "2026-11-30T06:58:30+00:00"


def one(code: Path, speed: float, give_up: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bbbscale-kill-guard-") as tmp:
        began = time.monotonic()
        fleet = GuardFleet(Path(tmp), START, speed, code=code)
        try:
            # the guard sees the herd after Scalelite's next poll (60 simulated seconds): wait for a few
            found = fleet.kill_mid_burst(wait_s=max(90.0, 300.0 / speed), give_up=timedelta(minutes=give_up))
        finally:
            fleet.stop_all()
        found["wall_s"] = round(time.monotonic() - began, 1)
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in found.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--baseline", default="c70e7fa", help="a commit to compare with ('' to skip)")
    parser.add_argument("--give-up", type=float, default=6.0, help="simulated minutes to wait for a release")
    args = parser.parse_args()
    for n in range(args.runs):
        print(json.dumps({"code": "this", "run": n + 1, **one(ROOT, args.speed, args.give_up)}), flush=True)
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="bbbscale-baseline-") as tmp:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline], capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            found = one(Path(tmp), args.speed, args.give_up)
            print(json.dumps({"code": args.baseline, **found}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
