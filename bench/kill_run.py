"""Kill -9 real `bbbscale run` processes on one SQLite file (issue 14).

    .venv/bin/python bench/kill_run.py                 # >= 100 random kills at 20x, then the real-time stall
    .venv/bin/python bench/kill_run.py --kills 20 --stall-kills 1   # quicker

Part 1: three `run` processes of the simulated fault fleet (tests/fixtures/fault-fleet.toml) on a shared
clock 20x real time through a school morning; `--kills` SIGKILLs at random moments, every fourth one aimed
at the process holding the lease; then the invariants on the file (tests/support/kill_run.py).
Part 2: two processes at real speed (lease 60 s, interval 60 s): kill the lease holder mid-tick and time
how long until another process acts (target: within 90 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kill_run import KillRun, invariants  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--stall-kills", type=int, default=2, help="holder kills at real speed (0: skip)")
    args = parser.parse_args()
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="bbbscale-kill-") as tmp:
        began = time.monotonic()
        fleet = KillRun(Path(tmp), speed=args.speed, processes=3, seed=1)
        fleet.run(kills=args.kills, holder_every=4, settle_s=15.0, timeout_s=3600)
        acted = Counter(
            a["action"] for d in fleet.outputs() for a in d["actions"] if a.get("result") == "done"
        )
        report["random"] = {
            "kills": fleet.kills,
            "holder_kills": fleet.holder_kills,
            "wall_s": round(time.monotonic() - began, 1),
            "max_stall_sim_s": round(max(fleet.stalls) * fleet.speed, 1) if fleet.stalls else None,
            "actions_done": dict(acted),
            **invariants(fleet.path),
        }
        print(json.dumps(report["random"]), flush=True)
    if args.stall_kills:
        with tempfile.TemporaryDirectory(prefix="bbbscale-stall-") as tmp:
            fleet = KillRun(Path(tmp), speed=1.0, processes=2, seed=2)
            fleet.run(kills=args.stall_kills, holder_every=1, settle_s=0.0, timeout_s=900)
            report["real_time_stall_s"] = [round(s, 1) for s in fleet.stalls]
            print(json.dumps({"real_time_stall_s": report["real_time_stall_s"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
