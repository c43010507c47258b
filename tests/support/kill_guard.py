"""Real `bbbscale run` processes whose burst guard is killed mid-burst (SIGKILL), on one SQLite file.

Used by tests/integration/test_kill_guard.py and bench/kill_guard.py. The processes run the simulated
fleet of tests/fixtures/fault-fleet.toml (four owned servers instead of two, its metrics endpoint
switched off: no fixed port) on a shared clock
`speed` times faster than real time, from just before a class start. `kill_mid_burst` herds a burst onto
one server through the shared world (rooms pinned to it, as Scalelite's placement between two polls
does), waits for the guard to cordon it, kills the guard's process (timing the other's takeover), then
the other one, and lets `bbbscale tick` processes tick until the cordon is released. `code` runs another
checkout of bbbscale (bench/kill_guard.py's baseline: a commit before the guard lease and expiry).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "fault"


class GuardFleet:
    """`bbbscale run` processes on one file in `workdir`, and the shared world and clock they use."""

    def __init__(self, workdir: Path, start: str, speed: float, code: Path = ROOT):
        self.workdir, self.start, self.speed, self.code = workdir, start, speed, code
        self.config = workdir / "fleet.toml"
        fixture = (ROOT / "tests" / "fixtures" / "fault-fleet.toml").read_text()
        owned = "min_servers = 2\nmax_servers = 2\nquota = 2"  # four owned servers: the guard may cordon
        assert owned in fixture  # one at once, leaving enough placeable ones (not only once VMs serve)
        fixture = fixture.replace(owned, owned.replace("2", "4"), 1)
        # The guard cordons only in a class start's window (or on a surge): a long window keeps the herd
        # inside it however slowly a busy machine starts the processes (at 10x, a minute of real start-up
        # is ten simulated minutes, past the default 15-minute window of the 08:00 class).
        window = "\n[guard]\nafter_slot_minutes = 60\n"
        self.config.write_text(fixture + window + "\n[metrics]\nenabled = false\n")
        self.live: list[subprocess.Popen] = []
        self.spawned = 0
        self.errors: dict[int, Path] = {}  # pid -> that process's stderr file

    @property
    def path(self) -> Path:
        return self.workdir / "fault.sqlite3"

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "chalicelib", *args, "--config", str(self.config)]

    def _env(self) -> dict:
        return {**os.environ, "PYTHONPATH": str(self.code)}

    def spawn(self) -> subprocess.Popen:
        """One more `bbbscale run` on the file."""
        self.spawned += 1
        n = self.spawned
        said = self.workdir / f"run-{n}.err"
        command = self._command("run", "--json", "--speed", str(self.speed), "--start", self.start)
        process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=self._env(),
            stdout=open(self.workdir / f"run-{n}.out", "w"),  # noqa: SIM115 - closed with the process
            stderr=open(said, "w"),  # noqa: SIM115
        )
        self.live.append(process)
        self.errors[process.pid] = said
        return process

    def said(self, process: subprocess.Popen) -> str:
        """The end of what `process` wrote on stderr (why a process died, a guard's failures)."""
        path = self.errors.get(process.pid)
        return path.read_text()[-1500:] if path and path.exists() else ""

    def tick(self) -> dict:
        """One `bbbscale tick` process on the file (on the shared clock); its JSON document."""
        done = subprocess.run(
            self._command("tick", "--json"),
            cwd=self.workdir,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.live.remove(process)

    def stop_all(self) -> None:
        for process in list(self.live):
            self.kill(process)

    # --- what the file says --------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def now(self) -> datetime:
        """The shared simulated clock."""
        with self._db() as db:
            start, wall, speed = db.execute(
                "SELECT start, wall, speed FROM sim_clock WHERE cluster = ?", (CLUSTER,)
            ).fetchone()
        return datetime.fromisoformat(start) + timedelta(seconds=(time.time() - wall) * speed)

    def guard_owner(self) -> str | None:
        """Who holds the guard lease now (an owner names its process: guard-<host>-<pid>-<id>)."""
        from chalicelib.adapters.state.sqlite import SqliteStateStore

        store = SqliteStateStore(str(self.path), cluster=CLUSTER)
        try:
            return store.guard_lease.holder(self.now())
        finally:
            store.close()

    def guard_holder(self) -> subprocess.Popen | None:
        """The live process whose guard holds the guard lease now."""
        owner = self.guard_owner() or ""
        return next((p for p in self.live if f"-{p.pid}-" in owner), None)

    def cordons(self) -> dict:
        """The guard's cordons as stored (`guard_cordons`)."""
        try:
            with self._db() as db:
                row = db.execute(
                    "SELECT value FROM settings WHERE cluster = ? AND key = 'guard_cordons'", (CLUSTER,)
                ).fetchone()
        except sqlite3.Error:
            return {}
        return json.loads(row[0]) if row else {}

    def guard_lines(self) -> list[tuple[str, str]]:
        """(time, summary) of every guard history entry, oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT at, body FROM history WHERE cluster = ? AND kind = 'guard' ORDER BY at, seq",
                (CLUSTER,),
            ).fetchall()
        return [(at, json.loads(body)["summary"]) for at, body in rows]

    def acting_ticks(self) -> int:
        try:
            with self._db() as db:
                (count,) = db.execute(
                    "SELECT COUNT(*) FROM history WHERE cluster = ? AND kind = 'tick' AND body NOT LIKE ?",
                    (CLUSTER, "%holds the lease%"),
                ).fetchone()
        except sqlite3.Error:
            return 0
        return count

    def world(self):
        """The shared simulated world, as one more process sees it."""
        from bbbsim.shared import share_world
        from bbbsim.world import SimWorld

        world = SimWorld()
        share_world(world, str(self.path), CLUSTER)
        return world

    def herd(self, rooms: int, now: datetime) -> str:
        """Put `rooms` fresh classes on one enabled owned server, as Scalelite herds a burst onto the
        server lowest at its last poll; returns that server's Scalelite id."""
        from bbbsim.scalelite_model import name_in_url

        world = self.world()
        with world.lock:
            target = next(e for e in world.scalelite_servers() if "-owned-" in e.url and e.state == "enabled")
            for i in range(rooms):
                world.create_meeting(
                    f"herded-{i}",
                    now,
                    participants=40,
                    moderators=1,
                    voice=10,
                    server=name_in_url(target.url),
                )
        return target.id

    def scalelite_state(self, server_id: str) -> str:
        world = self.world()
        with world.lock:
            return world.scalelite_server(server_id).state

    def kill_mid_burst(self, rooms: int = 60, wait_s: float = 90, give_up: timedelta = timedelta(minutes=6)):
        """The scenario (see the module doc); returns what happened, times on the shared clock.
        Without a guard lease (`lease` False: an older checkout) both processes are killed at once."""
        found: dict = {"cordoned": False, "takeover_s": None, "released_s": None}
        for _ in range(2):
            self.spawn()
        lease = self.code == ROOT
        ready = (lambda: self.acting_ticks() >= 1 and self.guard_holder()) if lease else self.acting_ticks
        if not _wait_for(ready, wait_s):
            return found
        server = self.herd(rooms, self.now())
        found["server"] = server
        cordon = _wait_for(lambda: self.cordons().get(server), wait_s)
        found["cordoned"] = bool(cordon) and not cordon.get("released")
        if not found["cordoned"]:  # say what the guard did instead, and where Scalelite stands
            found["guard_said"] = [line for _, line in self.guard_lines()][-5:]
            found["cordons"] = self.cordons()
            found["at"] = self.now().isoformat()
            world = self.world()
            with world.lock:
                found["scalelite"] = [(e.id[:8], e.state, e.load) for e in world.scalelite_servers()]
            return found
        if lease:
            holder = self.guard_holder()
            other = next(p for p in self.live if p is not holder)
            killed = self.now()
            self.kill(holder)
            if _wait_for(lambda: self.guard_holder() is other, wait_s):
                found["takeover_s"] = (self.now() - killed).total_seconds()
            else:  # say why: the other process died, or its guard failed
                found["other_exit"], found["other_said"] = other.poll(), self.said(other)
        self.stop_all()  # no guard left to renew the cordon
        dead = self.now()
        until = (self.cordons().get(server) or {}).get("until")
        found["expires_s"] = (datetime.fromisoformat(until) - dead).total_seconds() if until else None
        found["ticks"] = []  # (began, ended, cordon still held after it), seconds after the last death
        while found["released_s"] is None and self.now() < dead + give_up:
            began = (self.now() - dead).total_seconds()
            self.tick()  # another process ticks (and holds no guard)
            ended = (self.now() - dead).total_seconds()
            held = self.cordons().get(server) is not None
            found["ticks"].append((round(began, 1), round(ended, 1), held))
            if not held:
                found["released_s"] = ended
        found["state_after"] = self.scalelite_state(server)
        found["released_line"] = next(
            (line for at, line in self.guard_lines() if "cordon expired" in line and at >= dead.isoformat()),
            None,
        )
        return found


def _wait_for(what, seconds: float, step: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(step)
    return None
