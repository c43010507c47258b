"""Opening one SQLite file from several processes at once, in WAL mode.

Turning a fresh file to WAL (`PRAGMA journal_mode=WAL`) needs the file to itself, and SQLite answers
"database is locked" at once when another connection is doing the same, without waiting on the busy
timeout: two `bbbscale run` processes started together on a new state file lost one of them about one
start in six (tests/contract/test_sqlite_open_race.py). So the mode is read first (a file already in
WAL needs nothing; the mode is kept in the file) and set with retries until the busy timeout is spent.
"""

from __future__ import annotations

import sqlite3
import time

#: Between two tries to switch the file to WAL.
RETRY_SECONDS = 0.05


def open_wal(path: str, busy_seconds: float, *, threads: bool = True) -> sqlite3.Connection:
    """A connection to `path` in autocommit mode whose file is in WAL mode (":memory:" stays as it is);
    waits up to `busy_seconds` for other connections, then raises sqlite3.OperationalError."""
    connection = sqlite3.connect(
        path, timeout=busy_seconds, isolation_level=None, check_same_thread=not threads
    )
    if path == ":memory:":
        return connection
    deadline = time.monotonic() + busy_seconds
    try:
        while True:
            refused: sqlite3.OperationalError | None = None
            try:
                # a mode that could not be changed is answered with the old one: tried again
                if (
                    _mode(connection, "PRAGMA journal_mode") == "wal"
                    or _mode(connection, "PRAGMA journal_mode=WAL") == "wal"
                ):
                    return connection
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
                refused = error
            if time.monotonic() >= deadline:
                raise refused or sqlite3.OperationalError(
                    f"could not switch {path} to WAL: database is locked"
                )
            time.sleep(RETRY_SECONDS)
    except BaseException:
        connection.close()
        raise


def _mode(connection: sqlite3.Connection, pragma: str) -> str:
    return str(connection.execute(pragma).fetchone()[0]).lower()


def _busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text
