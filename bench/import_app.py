"""Cold start: how long `import app` takes in a fresh interpreter, beside `import boto3` alone.

Lambda pays the module import of app.py on every cold start. Targets: `import app` at most 1.2x
`import boto3` (median, same run) and within 0.8 s. Each figure is the median over fresh processes,
measured inside the process (interpreter start-up excluded: wall and CPU time) and as whole process wall
time; the imports alternate so all see the same machine load. CPU time is the steadier figure on a
shared machine.

    python bench/import_app.py [--runs 9] [--budget 0.8] [--ratio 1.2] [--root PROJECT_DIR] [--compare DIR]

`--compare DIR` also imports app.py from another tree of the project (e.g. an export of an earlier
commit: `git archive REV | tar -x -C DIR`), in the same alternation, with the same interpreter.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    "import time; t, c = time.perf_counter(), time.process_time(); import {module}; "
    "print(time.perf_counter() - t, time.process_time() - c)"
)


def once(module: str, root: Path = ROOT) -> tuple[float, float, float]:
    """(import s inside the process, its CPU s, whole process s) for one fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = (float(x) for x in done.stdout.strip().splitlines()[-1].split())
    return wall, cpu, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--budget", type=float, default=0.8)
    parser.add_argument("--ratio", type=float, default=1.2, help="most `import app` may cost, x boto3")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project tree whose app.py is measured")
    parser.add_argument("--compare", type=Path, help="another tree whose app.py is measured beside it")
    args = parser.parse_args()
    trees = {"boto3": ("boto3", args.root), "app": ("app", args.root)}
    if args.compare:
        trees["app (compared)"] = ("app", args.compare.resolve())
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    for module, root in trees.values():  # warm the file cache and .pyc files once, as a deployed package
        once(module, root)
    for _ in range(args.runs):
        for name, (module, root) in trees.items():
            samples[name].append(once(module, root))
    print(
        f"{'import':<16}{'median import s':>16}{'median cpu s':>14}{'median process s':>18}  ({args.runs} each)"
    )
    for name, runs in samples.items():
        import_s, cpu, process = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"{name:<16}{import_s:>16.3f}{cpu:>14.3f}{process:>18.3f}")
    app, boto3 = (statistics.median(r[0] for r in samples[name]) for name in ("app", "boto3"))
    app_cpu, boto3_cpu = (statistics.median(r[1] for r in samples[name]) for name in ("app", "boto3"))
    ok = app <= args.budget and app <= args.ratio * boto3
    print(
        f"import app: {app:.3f} s = {app / boto3:.2f}x boto3 (cpu {app_cpu / boto3_cpu:.2f}x); targets "
        f"<= {args.ratio}x boto3 and <= {args.budget} s: {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
