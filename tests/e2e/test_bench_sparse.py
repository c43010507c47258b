"""`bench/replay_week.py --sparse DAYS`: the documented command runs in tests/e2e/test_documented_commands.py
with the quick options, which replay a day instead (the last of `--day` and `--sparse` wins); this runs
the sparse replay itself, both sides at the last commit, and reads its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_sparse_replay_compares_both_sides_and_prints_the_work_counters():
    done = subprocess.run(
        [
            sys.executable,
            "bench/replay_week.py",
            "--sparse",
            "3",
            "--baseline-rev",
            "HEAD",
            "--candidate-rev",
            "HEAD",
            "--runs",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.startswith("sparse:3: 2 meetings, ") and "| poll rounds | looks |" in out
    assert "identical outcomes: " in out and '"polls"' not in out.split("identical outcomes: ")[1]
