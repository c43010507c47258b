"""Several openers of one fresh SQLite file at once (the state store, the idempotency store, the
simulator's shared world and clock): none fails.

Two `bbbscale run` processes started together on a new state file lost one of them about one start in
six ("cannot open state file: database is locked"): switching a file to WAL needs it to itself, and
SQLite answers at once, without its busy wait, when two connections try together. Connections in
threads race the same way as processes (SQLite's locks are per connection); here, with the plain
`PRAGMA journal_mode=WAL` of before, about 5 rounds in 100 lost one opener.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime

import pytest

from bbbsim.shared import SharedClock, StoredWorldLock
from chalicelib.adapters.state.idempotency import SqliteIdempotencyStore
from chalicelib.adapters.state.sqlite import SqliteDatabase, SqliteStateStore
from chalicelib.adapters.state.sqlite_file import open_wal
from chalicelib.ports import BbbscaleError

ROUNDS = 40


def _openers(path: str):
    start = datetime(2026, 11, 30, 7, tzinfo=UTC)
    return [
        lambda: SqliteStateStore(path, cluster="race").close(),
        lambda: SqliteStateStore(path, cluster="race").close(),
        lambda: SqliteIdempotencyStore(path, cluster="race")._connection.close(),
        lambda: StoredWorldLock(object(), path, "race")._db.close(),
        lambda: SharedClock(path, "race", start, 10.0),
    ]


def test_openers_of_one_fresh_file_at_once_all_open_it_in_wal(tmp_path):
    failures = []
    for n in range(ROUNDS):
        path = str(tmp_path / f"state-{n}.sqlite3")
        openers = _openers(path)
        together = threading.Barrier(len(openers))

        def open_one(opener, together=together, n=n):
            together.wait()
            try:
                opener()
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                failures.append(f"round {n}: {type(error).__name__}: {error}")

        threads = [threading.Thread(target=open_one, args=(o,)) for o in openers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert failures == []


def test_a_file_held_past_the_busy_timeout_is_one_clear_error_and_closes_nothing_else(tmp_path):
    path = str(tmp_path / "held.sqlite3")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # a rollback-journal file, locked for the whole test
    try:
        began = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            open_wal(path, 0.3)
        assert time.monotonic() - began < 5
        with pytest.raises(BbbscaleError, match="cannot open state file .*locked"):
            SqliteDatabase(path, busy_seconds=0.3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    SqliteStateStore(path, cluster="race").close()  # released: it opens, in WAL
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
