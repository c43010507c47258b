"""Cold start: how long `import app` takes in a fresh interpreter, beside `import boto3` alone.

Lambda pays the module import of app.py on every cold start. The budget is 0.8 s (median). Each figure is
the median over fresh processes, measured inside the process (interpreter start-up excluded) and as whole
process wall time; the two imports alternate so both see the same machine load.

    python bench/import_app.py [--runs 9] [--budget 0.8] [--root PROJECT_DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def once(module: str, root: Path = ROOT) -> tuple[float, float]:
    """(import seconds inside the process, whole process seconds) for one fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--budget", type=float, default=0.8)
    parser.add_argument("--root", type=Path, default=ROOT, help="the project tree whose app.py is measured")
    args = parser.parse_args()
    samples: dict[str, list[tuple[float, float]]] = {"boto3": [], "app": []}
    once("app", args.root)  # warm the file cache and .pyc files once, as a deployed package has them
    for _ in range(args.runs):
        for module in samples:
            samples[module].append(once(module, args.root))
    print(
        f"{'import':<8} {'median import s':>16} {'median process s':>17}  ({args.runs} fresh processes each)"
    )
    for module, runs in samples.items():
        print(
            f"{module:<8} {statistics.median(r[0] for r in runs):>16.3f} {statistics.median(r[1] for r in runs):>17.3f}"
        )
    app_median = statistics.median(r[0] for r in samples["app"])
    verdict = "within" if app_median <= args.budget else "OVER"
    print(f"import app: {app_median:.3f} s, {verdict} the {args.budget} s budget")
    return 0 if app_median <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
