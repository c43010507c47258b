"""Two processes on one SQLite file: numbers stay unique and one lease holder wins (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

from chalicelib.adapters.state.sqlite import SqliteStateStore

WORKER = """
import json, sys
from datetime import datetime
from chalicelib.adapters.state.sqlite import SqliteStateStore
store = SqliteStateStore(sys.argv[1], cluster="demo")
sys.stdin.readline()  # start together
won = store.lease.acquire(sys.argv[2], datetime.fromisoformat("2026-11-23T08:00:00+00:00"), 300)
print(json.dumps({"won": won, "numbers": [store.servers.next_number("gandi") for _ in range(40)]}))
"""


def test_two_processes_share_one_file_safely(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    SqliteStateStore(path, cluster="demo").close()  # schema in place before the race
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, path, f"tick-{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outcomes = [json.loads(worker.communicate(timeout=60)[0]) for worker in workers]
    assert sorted(o["won"] for o in outcomes) == [False, True]
    numbers = [n for o in outcomes for n in o["numbers"]]
    assert sorted(numbers) == list(range(1, 81))
    store = SqliteStateStore(path, cluster="demo")
    assert store.database.rows("PRAGMA journal_mode") == [("wal",)]
    assert store.lease.acquire("tick-late", datetime(2026, 11, 23, 8, 1, tzinfo=UTC), 300) is False


def test_a_state_file_locked_past_the_busy_timeout_is_one_clear_error(tmp_path):
    # Another process holding the write lock (a stuck `sqlite3` shell, a backup tool): the tick ended
    # in "unexpected OperationalError: database is locked", naming neither the file nor the cause.
    import sqlite3

    import pytest

    from chalicelib.adapters.state.sqlite import SqliteDatabase
    from chalicelib.ports import BbbscaleError

    path = tmp_path / "state.sqlite3"
    SqliteStateStore(str(path), cluster="demo").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BbbscaleError) as error:
            SqliteDatabase(str(path), busy_seconds=0.2)  # its schema statements need the write lock
        assert str(error.value) == f"state file {path} is locked by another process (waited 0.2 s)"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
