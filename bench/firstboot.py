"""How long the first boot's own steps take (infra/image/files/bbbscale-firstboot.sh), bbb-install stubbed.

No VM boots here: the script runs for real in a temporary root (tests/integration/firstboot_root.py) with
stub system commands and bbbscale's certificate route on loopback, and each step is timed from the
moment its `step <name>` line reaches stderr to the next one. What this measures is the script's own
work (DNS check, certificate fetch, TURN, recordings, scrub, fence...); bbb-install, the packages'
scripts and the network are stubs that return at once: their real durations are upstream figures, named
in docs/providers/README.md ("How long a first boot takes").

    .venv/bin/python bench/firstboot.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.firstboot_root import SCRIPT, CertRoute, ImageRoot  # noqa: E402


def one_boot(base: Path, route: CertRoute) -> tuple[dict[str, float], float]:
    """Seconds per step of one first boot, and the whole run's."""
    image = ImageRoot(base, cert_url=route.url)
    started = time.monotonic()
    boot = subprocess.Popen(
        ["bash", str(SCRIPT)], env=image.env(), stderr=subprocess.PIPE, text=True, bufsize=1
    )
    steps: dict[str, float] = {}
    current, since = None, started
    assert boot.stderr is not None
    for line in boot.stderr:
        now = time.monotonic()
        if line.startswith("bbbscale-firstboot: step "):
            if current:
                steps[current] = steps.get(current, 0.0) + now - since
            current, since = line.split()[-1], now
    code = boot.wait()
    end = time.monotonic()
    if current:
        steps[current] = steps.get(current, 0.0) + end - since
    if code != 0:
        raise SystemExit(
            f"the first boot failed ({code}): {(base / 'root/var/lib/bbbscale/firstboot.failed')}"
        )
    return steps, end - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    route = CertRoute()
    per_step: dict[str, list[float]] = {}
    totals = []
    try:
        for n in range(args.runs):
            with tempfile.TemporaryDirectory() as base:
                steps, total = one_boot(Path(base) / str(n), route)
            totals.append(total)
            for name, seconds in steps.items():
                per_step.setdefault(name, []).append(seconds)
    finally:
        route.close()
    print(f"first boot, bbb-install stubbed: {args.runs} runs (median seconds)\n")
    print("| step | median s | max s |\n|---|---:|---:|")
    for name, values in per_step.items():
        print(f"| {name} | {statistics.median(values):.3f} | {max(values):.3f} |")
    print(f"| **whole script** | **{statistics.median(totals):.2f}** | {max(totals):.2f} |")


if __name__ == "__main__":
    main()
