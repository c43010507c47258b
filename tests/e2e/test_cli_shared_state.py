"""`bbbscale tick` on the simulated fleet keeps its state and its world in `[state] path` (issue 14): a
second process sees what the first one did, and a dry run's decision stays in the history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chalicelib.adapters.state.sqlite import SqliteStateStore

ROOT = Path(__file__).resolve().parents[2]
FLEET = (ROOT / "tests" / "fixtures" / "fault-fleet.toml").read_text()
# 9,000 units of headroom on top of whatever the day brings: more than the owned pool, whatever the date.
CONFIG = FLEET.replace("units = 0", "units = 9000")


def bbbscale(workdir: Path, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib", *args, "--json", "--config", "fleet.toml"],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ticks_in_separate_processes_share_the_fleet_and_the_history(tmp_path):
    (tmp_path / "fleet.toml").write_text(CONFIG)
    planned = bbbscale(tmp_path, "tick", "--dry-run")
    assert (tmp_path / "fault.sqlite3").exists(), "the dry run keeps its history in [state] path"
    assert any(a["action"] == "start" for a in planned["actions"])

    acted = bbbscale(tmp_path, "tick")
    started = {a["provider"]: a["count"] for a in acted["actions"] if a["action"] == "start"}
    assert started and all(a["result"] == "done" for a in acted["actions"] if a["action"] == "start")

    seen = bbbscale(tmp_path, "tick", "--dry-run")  # a third process
    booting = {p: c.get("booting", 0) for p, c in seen["fleet"].items() if p != "owned"}
    assert {p: n for p, n in booting.items() if n} == started, "the next process sees the VMs started"
    more = sum(a["count"] for a in seen["actions"] if a["action"] == "start")
    wanted = sum(n for p, n in seen["desired"].items() if p != "owned")
    assert sum(booting.values()) + more <= wanted, "and counts them: no second start for the same need"

    store = SqliteStateStore(str(tmp_path / "fault.sqlite3"), cluster="fault")
    ticks = store.history.recent(10, kind="tick")
    assert len(ticks) == 3, [t.summary for t in ticks]
    assert sum(1 for s in store.servers.servers() if s.provider != "owned") == sum(started.values())
