"""`bbbscale run` stopped by SIGTERM (systemd's stop, a container's) as a real process: it exits 0 in one
line, and the tick and guard leases are free at once, so the next process (a restart) ticks and guards
without waiting out the leases' 30-60 s."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from tests.support.kill_run import CLUSTER, CONFIG, ROOT, START


def _leases(path) -> dict[str, str]:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            rows = db.execute("SELECT name, owner FROM leases WHERE cluster = ?", (CLUSTER,)).fetchall()
    except sqlite3.Error:
        return {}
    return dict(rows)


def _ticks(path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM history WHERE cluster = ? AND kind = 'tick'", (CLUSTER,)
            ).fetchone()
    except sqlite3.Error:
        return 0
    return count


def test_sigterm_stops_run_cleanly_and_frees_both_leases(tmp_path):
    state = tmp_path / "fault.sqlite3"
    command = [sys.executable, "-m", "chalicelib", "run", "--json", "--config", str(CONFIG)]
    command += ["--speed", "20", "--start", START]
    run = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not ("guard" in _leases(state) and _ticks(state) >= 1):
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            time.sleep(0.2)
        held = _leases(state)
        assert "guard" in held and str(run.pid) in held["guard"], held  # the guard looks: its lease is held
        run.send_signal(signal.SIGTERM)
        status = run.wait(timeout=20)
    finally:
        if run.poll() is None:
            run.kill()
    err = run.stderr.read() if run.stderr else ""
    assert status == 0, err
    assert "stopped (SIGTERM)" in err and "Traceback" not in err, err
    assert _leases(state) == {}, "a restart would wait out the leases"
