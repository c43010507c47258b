"""The simulated world kept in the state's SQLite file, so several `bbbscale run`/`tick` processes see one
fleet — as real processes would see one real cloud and one real Scalelite.

Every part of the world (the simulated clouds, the local Scalelite, the BBB servers) takes the world's
lock for each operation. `share_world` swaps that lock for a `StoredWorldLock`: the outermost hold is one
SQLite transaction (`BEGIN IMMEDIATE`, the file's single write lock) that first reloads the stored copy
when another process changed it, and on release writes the world back if this operation changed it. So
each provider call, Scalelite call or clock advance is atomic and durable, like a call to a real API: a
process killed between two calls leaves the world exactly as the calls it finished made it (a VM it
created exists, though its record may still say "requested" — reconciliation's job).

The world is pickled (its own classes, written and read only by bbbscale, in the operator's own state
file). Caches that a read fills in are left out, so a read does not count as a change.
"""

from __future__ import annotations

import pickle
import threading
import time
from datetime import UTC, datetime, timedelta

from chalicelib.adapters.state.sqlite_file import open_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_world (cluster TEXT PRIMARY KEY, version INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sim_clock (cluster TEXT PRIMARY KEY, start TEXT NOT NULL, wall REAL NOT NULL,
    speed REAL NOT NULL)
"""
#: The attributes of a world that are not its state: the lock itself, callbacks to this process's
#: objects (the clouds' boot tickers, the local Scalelite's URL scheme, a replay's clock and look cost).
_NOT_STATE = frozenset({"lock", "_tickers", "url_for", "clock", "look_cost"})


def _state_of(world) -> bytes:
    return pickle.dumps(
        {k: v for k, v in world.__dict__.items() if k not in _NOT_STATE}, protocol=pickle.HIGHEST_PROTOCOL
    )


class StoredWorldLock:
    """A re-entrant lock over a world whose state lives in a SQLite file (see the module docstring)."""

    def __init__(self, world, path: str, cluster: str, busy_seconds: float = 60.0):
        self._world, self._cluster = world, cluster
        self._local = threading.RLock()
        self._depth = 0
        self._version = -1  # the stored version this process's copy reflects
        self._body = b""
        self._db = open_wal(path, busy_seconds)
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._local.acquire(blocking, timeout):
            return False
        self._depth += 1
        if self._depth == 1:
            try:
                self._begin()
            except BaseException:
                self._depth -= 1
                self._local.release()
                raise
        return True

    def release(self) -> None:
        try:
            if self._depth == 1:
                self._commit()
        finally:
            self._depth -= 1
            self._local.release()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT version, body FROM sim_world WHERE cluster = ?", (self._cluster,)
            ).fetchone()
            if row is not None and row[0] != self._version:
                self._world.__dict__.update(pickle.loads(row[1]))
                self._version, self._body = row[0], row[1]
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _commit(self) -> None:
        try:
            body = _state_of(self._world)
            if body != self._body:
                self._db.execute(
                    "INSERT INTO sim_world (cluster, version, body) VALUES (?, ?, ?) "
                    "ON CONFLICT (cluster) DO UPDATE SET version = excluded.version, body = excluded.body",
                    (self._cluster, self._version + 1, body),
                )
                self._db.execute("COMMIT")
                self._version, self._body = self._version + 1, body
            else:
                self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise


def share_world(world, path: str, cluster: str) -> StoredWorldLock:
    """Keep `world` in the SQLite file at `path` from now on; if the file already holds this cluster's
    world, the world takes that state (the first process's world is the one kept)."""
    lock = StoredWorldLock(world, path, cluster)
    world.lock = lock
    with lock:  # load the stored world, or store this one
        pass
    return lock


class SharedClock:
    """Simulated time shared by every process on one file: `start` + (wall time since the first process
    began) x `speed`. The first process fixes start, wall and speed; later ones read them, so leases,
    boots and billing agree across processes. speed 1 without a start is plain UTC wall time."""

    def __init__(self, path: str, cluster: str, start: datetime | None, speed: float):
        db = open_wal(path, 60, threads=False)
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            begin = start or datetime.now(UTC)
            db.execute(
                "INSERT OR IGNORE INTO sim_clock (cluster, start, wall, speed) VALUES (?, ?, ?, ?)",
                (cluster, begin.astimezone(UTC).isoformat(), time.time(), speed),
            )
            stored_start, self.wall, self.speed = db.execute(
                "SELECT start, wall, speed FROM sim_clock WHERE cluster = ?", (cluster,)
            ).fetchone()
        finally:
            db.close()
        self.start = datetime.fromisoformat(stored_start)

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.wall) * self.speed)

    def set(self, now: datetime) -> None:
        """Time here follows the wall clock; nothing to set (kept for the SimClock interface)."""
