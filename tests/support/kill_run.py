"""Real `bbbscale run` processes on one SQLite file, killed at random with SIGKILL (issue 14).

Used by tests/integration/test_kill_run.py (a few kills) and bench/kill_run.py (hundreds, and the stall
after killing the lease holder). The processes run the simulated fleet of tests/fixtures/fault-fleet.toml
on a shared clock `speed` times faster than real time, starting before a school day's first classes, so
the fleet scales up, registers, enables, cordons and stops while processes die at any point.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "fixtures" / "fault-fleet.toml"
CLUSTER = "fault"
START = "2026-11-30T06:50:00+00:00"  # 07:50 in Paris on a Monday of term: the first classes come


@dataclass
class KillRun:
    """The processes on one file, and what was done to them."""

    workdir: Path
    speed: float = 20.0
    processes: int = 3
    seed: int = 0
    live: list[subprocess.Popen] = field(default_factory=list)
    kills: int = 0
    holder_kills: int = 0
    stalls: list[float] = field(default_factory=list)  # real seconds from killing a holder to another act
    spawned: int = 0

    @property
    def path(self) -> Path:
        return self.workdir / "fault.sqlite3"

    def spawn(self) -> subprocess.Popen:
        self.spawned += 1
        n = self.spawned
        command = [sys.executable, "-m", "chalicelib", "run", "--json", "--config", str(CONFIG)]
        command += ["--speed", str(self.speed), "--start", START]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=env,
            stdout=open(self.workdir / f"run-{n}.out", "w"),  # noqa: SIM115 - closed with the process
            stderr=open(self.workdir / f"run-{n}.err", "w"),  # noqa: SIM115
        )
        self.live.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.live.remove(process)
        self.kills += 1

    def holder(self) -> subprocess.Popen | None:
        """The live process whose tick holds the lease now, if any (the owner id names its pid)."""
        owner = _lease_owner(self.path)
        for process in self.live:
            if owner and f"-{process.pid}-" in owner:
                return process
        return None

    def run(self, kills: int, holder_every: int = 4, settle_s: float = 12.0, timeout_s: float = 600) -> None:
        """Start the processes, kill `kills` of them (every `holder_every`-th kill waits for the lease
        holder and measures the stall after it), keep the number of processes up, then let them tick
        `settle_s` without kills and stop them all."""
        rng = random.Random(self.seed)
        deadline = time.monotonic() + timeout_s
        for _ in range(self.processes):
            self.spawn()
        self._wait_for_ticks(2, deadline)  # the first ticks: the owned pool is registered
        try:
            while self.kills < kills and time.monotonic() < deadline:
                if holder_every and (self.kills + 1) % holder_every == 0:
                    self._kill_holder(deadline)
                else:
                    time.sleep(rng.uniform(0.1, 1.5))
                    self.kill(rng.choice(self.live))
                self.spawn()
            time.sleep(settle_s)
            # The kills must not outrun the school day: on a quiet machine they are over before the load
            # needs a VM. Keep ticking (on the shared clock) until the fleet has started one, then a few
            # more ticks so that what the start set in motion (register, enable) is carried out too.
            self._wait_for_start(deadline)
            self._wait_for_ticks(_acting_ticks(self.path) + 3, deadline)  # a busy machine ticks late
        finally:
            for process in list(self.live):
                process.send_signal(signal.SIGKILL)
                process.wait()
            self.live.clear()

    def _wait_for_ticks(self, count: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                if _acting_ticks(self.path) >= count:
                    return
            except sqlite3.Error:  # the file is not there yet
                pass
            time.sleep(0.1)

    def _wait_for_start(self, deadline: float) -> None:
        while time.monotonic() < deadline and not _started(self.path):
            time.sleep(0.2)

    def _kill_holder(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            victim = self.holder()
            if victim is not None:
                self.kill(victim)
                self.holder_kills += 1
                killed_at = time.time()
                survivors_since = _acting_ticks(self.path)
                while time.monotonic() < deadline:
                    if _acting_ticks(self.path) > survivors_since:
                        self.stalls.append(time.time() - killed_at)
                        return
                    time.sleep(0.05)
                return
            time.sleep(0.02)

    def outputs(self) -> list[dict]:
        """Every tick document the processes printed (a killed process's last line may be cut)."""
        documents = []
        for out in sorted(self.workdir.glob("run-*.out")):
            for line in out.read_text().splitlines():
                try:
                    documents.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return documents


def _lease_owner(path: Path) -> str | None:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            row = db.execute(
                "SELECT owner, until FROM leases WHERE cluster = ? AND name = 'tick'", (CLUSTER,)
            ).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _acting_ticks(path: Path) -> int:
    """How many ticks acted (a recorded desired count: holds record none)."""
    with sqlite3.connect(path, timeout=5) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM history WHERE cluster = ? AND kind = 'tick' AND body NOT LIKE ?",
            (CLUSTER, "%holds the lease%"),
        ).fetchone()
    return count


def _started(path: Path) -> bool:
    """Whether a tick has started a VM (its recorded actions include a start)."""
    with sqlite3.connect(path, timeout=5) as db:
        row = db.execute(
            "SELECT 1 FROM history WHERE cluster = ? AND kind = 'tick' AND body LIKE ? LIMIT 1",
            (CLUSTER, '%"action":"start"%'),
        ).fetchone()
    return row is not None


def invariants(path: Path) -> dict:
    """What the file says happened: double actions, orphan VMs, meetings ended against their users."""
    from bbbsim.scalelite_model import name_in_url
    from bbbsim.shared import share_world
    from bbbsim.world import SimWorld
    from chalicelib.adapters.state.sqlite import SqliteStateStore
    from chalicelib.domain.reconcile import GONE

    world = SimWorld()
    share_world(world, str(path), CLUSTER)
    store = SqliteStateStore(str(path), cluster=CLUSTER)
    records = {s.name: s for s in store.servers.servers()}
    vms = [vm for p in world.provider_records.values() for vm in p["vms"].values()]
    names = [vm.name for vm in vms]
    registered = [name_in_url(e.url) for e in world.registry.values()]
    live = {vm.name for vm in vms if vm.status in ("pending", "running")}
    orphans = sorted(
        vm.name
        for vm in vms
        if vm.status in ("pending", "running")
        and "static" not in vm.vm_id
        and (vm.name not in records or records[vm.name].state in GONE)
    )
    created = [vm for vm in vms if "static" not in vm.vm_id]
    return {
        "vms_created": len(created),
        "vms_destroyed": sum(1 for vm in created if vm.status == "gone"),
        "double_creates": sorted({n for n in names if names.count(n) > 1}),
        "double_registrations": sorted({n for n in registered if registered.count(n) > 1}),
        "orphan_vms": orphans,
        "orphan_registrations": sorted(n for n in registered if n not in live),
        "killed_meetings": len(world.killed_meetings),
        "rejected_meetings": world.rejected_meetings,
        "at": datetime.fromisoformat(store.history.recent(1)[0].at.isoformat()).isoformat(),
    }
