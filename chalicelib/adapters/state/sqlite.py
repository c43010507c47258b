"""The embedded default state store: one SQLite file, safe for several processes at once.

Two `bbbscale tick` processes on one file must not both act. Every write runs in `BEGIN IMMEDIATE`,
which takes SQLite's single write lock before reading, so a read-check-write (version check, lease,
counter) is atomic across processes; a busy writer is waited for (busy timeout), not failed. WAL
journal mode lets readers go on while one process writes (sqlite.org/wal.html). Rows carry the record's
JSON text (chalicelib.adapters.state.records) plus the columns the queries need. A `cluster` column
scopes every row, so two clusters can share one file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.adapters.state import kept, records
from chalicelib.adapters.state.sqlite_file import open_wal
from chalicelib.domain.fleet import Server
from chalicelib.ports import BbbscaleError, ConflictError, HistoryEntry, Reservation

SCHEMA = """
CREATE TABLE IF NOT EXISTS servers (cluster TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (cluster, name));
CREATE TABLE IF NOT EXISTS counters (cluster TEXT NOT NULL, provider TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (cluster, provider));
CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, cluster TEXT NOT NULL,
    at TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_by_time ON history (cluster, at, seq);
CREATE TABLE IF NOT EXISTS reservations (cluster TEXT NOT NULL, id TEXT NOT NULL, starts_at TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (cluster, id));
CREATE TABLE IF NOT EXISTS settings (cluster TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (cluster, key));
CREATE TABLE IF NOT EXISTS leases (cluster TEXT NOT NULL, name TEXT NOT NULL, owner TEXT NOT NULL,
    until TEXT NOT NULL, PRIMARY KEY (cluster, name));
"""


class SqliteDatabase:
    """One connection to the file, shared by the store's parts, serialised by a lock within the process
    and by SQLite's write lock across processes."""

    def __init__(self, path: str, busy_seconds: float = 30.0):
        self._path, self._busy = path, busy_seconds
        try:
            self._connection = open_wal(path, busy_seconds)
        except sqlite3.Error as error:
            raise BbbscaleError(f"cannot open state file {path}: {error}") from None
        self._lock = threading.RLock()
        with self.writing() as cursor:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    cursor.execute(statement)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """The rows of one read (its own snapshot)."""
        with self._lock, self._plainly():
            return self._connection.execute(sql, params).fetchall()

    @contextmanager
    def writing(self):
        """A transaction that holds the write lock from its first read: commit on exit, roll back on error."""
        with self._lock:
            cursor = self._connection.cursor()
            with self._plainly():
                cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    @contextmanager
    def _plainly(self):
        """SQLite's own errors as one line that names the file: a lock held past the busy timeout was
        "unexpected OperationalError: database is locked"."""
        try:
            yield
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise BbbscaleError(
                    f"state file {self._path} is locked by another process (waited {self._busy:g} s)"
                ) from None
            raise BbbscaleError(f"state file {self._path}: {error}") from None
        except sqlite3.DatabaseError as error:  # "file is not a database", "database disk image is malformed"
            raise BbbscaleError(f"state file {self._path}: {error}") from None

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._connection.close()


class SqliteServers:
    """ServerStore over the `servers` and `counters` tables."""

    def __init__(self, db: SqliteDatabase, cluster: str):
        self._db, self._cluster = db, cluster
        self._decoded: dict[str, Server] = {}  # name -> last record read; reused while its version holds

    def servers(self) -> list[Server]:
        """Every server of the cluster, by name. A (name, version) is written once, so a record already
        decoded at that version is reused (a tick reads the whole fleet; the simulator, thousands of times)."""
        rows = self._db.rows(
            "SELECT name, version, body FROM servers WHERE cluster = ? ORDER BY name", (self._cluster,)
        )
        found = []
        for name, version, body in rows:
            known = self._decoded.get(name)
            if known is None or known.version != version:
                known = self._decoded[name] = records.load(Server, body)
            found.append(known)
        return found

    def save(self, server: Server) -> Server:
        """Insert (version 0) or update the stored version; ConflictError when someone wrote first."""
        records.check_server(server)
        body = records.dump(replace(server, version=server.version + 1))
        with self._db.writing() as cursor:
            if server.version == 0:
                cursor.execute(
                    "INSERT OR IGNORE INTO servers (cluster, name, version, body) VALUES (?, ?, 1, ?)",
                    (self._cluster, server.name, body),
                )
            else:
                cursor.execute(
                    "UPDATE servers SET version = ?, body = ? WHERE cluster = ? AND name = ? AND version = ?",
                    (server.version + 1, body, self._cluster, server.name, server.version),
                )
            if cursor.rowcount != 1:
                raise ConflictError(f"server {server.name}: stored version changed (had {server.version})")
        return records.load(Server, body)

    def forget(self, server: Server) -> bool:
        """Remove the record if it is still at server.version."""
        with self._db.writing() as cursor:
            cursor.execute(
                "DELETE FROM servers WHERE cluster = ? AND name = ? AND version = ?",
                (self._cluster, server.name, server.version),
            )
            removed = cursor.rowcount == 1
        if removed:
            self._decoded.pop(server.name, None)
        return removed

    def next_number(self, provider: str) -> int:
        """1, 2, 3... per provider; the increment and the read happen under the write lock."""
        with self._db.writing() as cursor:
            cursor.execute(
                "INSERT INTO counters (cluster, provider, value) VALUES (?, ?, 1) "
                "ON CONFLICT (cluster, provider) DO UPDATE SET value = value + 1",
                (self._cluster, provider),
            )
            (value,) = cursor.execute(
                "SELECT value FROM counters WHERE cluster = ? AND provider = ?", (self._cluster, provider)
            ).fetchone()
        return value


class SqliteHistory:
    """HistoryLog over the `history` table; entries older than `keep_days` before the newest are pruned."""

    def __init__(self, db: SqliteDatabase, cluster: str, keep_days: int):
        self._db, self._cluster, self._keep = db, cluster, timedelta(days=keep_days)

    def record(self, entry: HistoryEntry) -> None:
        """Append one entry (and drop what fell out of the retention window, measured from its time)."""
        body, at, horizon = records.history_row(entry, self._keep)
        with self._db.writing() as cursor:
            cursor.execute(
                "INSERT INTO history (cluster, at, kind, body) VALUES (?, ?, ?, ?)",
                (self._cluster, at, entry.kind, body),
            )
            cursor.execute("DELETE FROM history WHERE cluster = ? AND at < ?", (self._cluster, horizon))

    def recent(self, limit: int = 20, kind: str | None = None) -> list[HistoryEntry]:
        """The newest `limit` entries, optionally of one kind; ties in time: newest recorded first."""
        sql = "SELECT body FROM history WHERE cluster = ?" + (" AND kind = ?" if kind else "")
        params = (self._cluster, kind) if kind else (self._cluster,)
        rows = self._db.rows(sql + " ORDER BY at DESC, seq DESC LIMIT ?", (*params, max(limit, 0)))
        return [records.load(HistoryEntry, body) for (body,) in rows]


class SqliteCells:
    """JSON values by key over the `settings` table (the kept state's and the operator's settings); a
    change reads and writes in one transaction under the write lock."""

    def __init__(self, db: SqliteDatabase, cluster: str):
        self._db, self._cluster = db, cluster

    def read(self, key: str, default=None):
        """The stored value, or `default` when the key was never written."""
        rows = self._db.rows("SELECT value FROM settings WHERE cluster = ? AND key = ?", (self._cluster, key))
        return json.loads(rows[0][0]) if rows else default

    def write(self, key: str, value) -> None:
        """Store `value` (anything JSON holds) under `key`."""
        text = records.to_json(value)
        with self._db.writing() as cursor:
            self._put(cursor, key, text)

    def change(self, key: str, step):
        """Read, step, write in one BEGIN IMMEDIATE transaction (kept.Cells)."""
        with self._db.writing() as cursor:
            row = cursor.execute(
                "SELECT value FROM settings WHERE cluster = ? AND key = ?", (self._cluster, key)
            ).fetchone()
            value, result = step(json.loads(row[0]) if row else None)
            if value is not kept.KEEP:
                self._put(cursor, key, records.to_json(value))
        return result

    def _put(self, cursor, key: str, text: str) -> None:
        cursor.execute(
            "INSERT INTO settings (cluster, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (cluster, key) DO UPDATE SET value = excluded.value",
            (self._cluster, key, text),
        )


class SqliteSettings:
    """SettingsStore: the operator's settings only (records.check_setting), in the `settings` table."""

    def __init__(self, cells: SqliteCells):
        self._cells = cells

    def get(self, key: str, default=None):
        """The stored value, or `default` when the key was never put."""
        return self._cells.read(records.check_setting(key), default)

    def put(self, key: str, value) -> None:
        """Store `value` (anything JSON holds) under `key`."""
        self._cells.write(records.check_setting(key), value)


class SqliteReservations:
    """ReservationStore over the `reservations` table: an id is stored once and never overwritten."""

    def __init__(self, db: SqliteDatabase, cluster: str):
        self._db, self._cluster = db, cluster

    def reservations(self) -> list[Reservation]:
        """All stored reservations, by start time then id."""
        rows = self._db.rows(
            "SELECT body FROM reservations WHERE cluster = ? ORDER BY starts_at, id", (self._cluster,)
        )
        return [records.load(Reservation, body) for (body,) in rows]

    def add(self, reservation: Reservation) -> tuple[Reservation, bool]:
        """(the stored reservation, True if this call created it)."""
        body = records.dump(reservation)
        with self._db.writing() as cursor:
            cursor.execute(
                "INSERT OR IGNORE INTO reservations (cluster, id, starts_at, body) VALUES (?, ?, ?, ?)",
                (self._cluster, reservation.id, records.stamp(reservation.starts_at), body),
            )
            created = cursor.rowcount == 1
            if not created:
                (body,) = cursor.execute(
                    "SELECT body FROM reservations WHERE cluster = ? AND id = ?",
                    (self._cluster, reservation.id),
                ).fetchone()
        return records.load(Reservation, body), created

    def cancel(self, reservation_id: str) -> bool:
        """Remove it; False when there was none."""
        with self._db.writing() as cursor:
            cursor.execute(
                "DELETE FROM reservations WHERE cluster = ? AND id = ?", (self._cluster, reservation_id)
            )
            return cursor.rowcount == 1


class SqliteLease:
    """Lease over the `leases` table: one row per cluster and lease `name` ("tick", "guard"), taken under
    the write lock."""

    def __init__(self, db: SqliteDatabase, cluster: str, name: str = "tick"):
        self._db, self._cluster, self.name = db, cluster, name

    def acquire(self, owner: str, now: datetime, ttl_seconds: int) -> bool:
        """Take or renew the lease when free, expired, already `owner`'s, or ending past what this clock
        could have given (records.CLOCK_STEP_SECONDS)."""
        current, until = records.stamp(now), records.stamp(now + timedelta(seconds=ttl_seconds))
        with self._db.writing() as cursor:
            cursor.execute(
                "INSERT INTO leases (cluster, name, owner, until) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (cluster, name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
                "WHERE leases.owner = excluded.owner OR leases.until <= ? OR leases.until > ?",
                (self._cluster, self.name, owner, until, current, records.lease_far(now, ttl_seconds)),
            )
            return cursor.rowcount == 1

    def holds(self, owner: str, now: datetime) -> bool:
        """True while `owner` holds the lease and it has not run out (one read)."""
        return self.holder(now) == owner

    def holder(self, now: datetime) -> str | None:
        """Who holds the unexpired lease at `now`, if anyone (one read)."""
        rows = self._db.rows(
            "SELECT owner FROM leases WHERE cluster = ? AND name = ? AND until > ?",
            (self._cluster, self.name, records.stamp(now)),
        )
        return rows[0][0] if rows else None

    def release(self, owner: str) -> None:
        """Free the lease if `owner` holds it; otherwise nothing happens."""
        with self._db.writing() as cursor:
            cursor.execute(
                "DELETE FROM leases WHERE cluster = ? AND name = ? AND owner = ?",
                (self._cluster, self.name, owner),
            )


class SqliteStateStore:
    """StateStore in one SQLite file (created if absent). `history_ttl_days` bounds the history kept."""

    def __init__(self, path: str, cluster: str = "default", history_ttl_days: int = 30):
        self.cluster = cluster
        self.database = SqliteDatabase(path)
        self.servers = SqliteServers(self.database, cluster)
        self.history = SqliteHistory(self.database, cluster, history_ttl_days)
        cells = SqliteCells(self.database, cluster)
        self.settings = SqliteSettings(cells)
        kept.attach(self, cells)
        self.reservations = SqliteReservations(self.database, cluster)
        self.lease = SqliteLease(self.database, cluster)
        self.guard_lease = SqliteLease(self.database, cluster, "guard")

    def close(self) -> None:
        """Close the file."""
        self.database.close()
