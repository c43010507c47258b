"""The kept state shared between processes: a SQLite file or DynamoDB table an older version wrote
(its settings map held these values) reads back through the new ports and keeps working; the guard's
report lines reach the tick exactly once, however two handles interleave or race."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.kept import DesiredAt, GuardHealth, GuardRun, LoadReading, ProviderFailure, TrendPoint

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ISO = T0.isoformat()
#: What the version before issue 21 wrote under its settings keys, in its shapes.
OLDER = {
    "guard_cordons": {"7": {"name": "bbb-7", "at": ISO, "reason": "herded", "until": ISO}},
    "guard_unreported": ["cordon bbb-7: herded"],
    "guard_spread": {"at": ISO, "rooms_cv": 0.25},
    "guard_spread_unreported": {"at": ISO, "rooms_cv": 0.25},
    "guard_health": {"failed_looks": 2, "last_failure": "UnreachableError: x", "at": ISO},
    "guard_running_until": (T0 + timedelta(minutes=10)).isoformat(),  # older still: the end only
    "guard_last_load": [ISO, 1500.0],
    "recent_desired": [[ISO, {"gandi": 4}]],
    "room_sizes": {"rooms": {"class-6b": [-1.0, 1700000000000, 38.5]}, "slots": {}},
    "provider_failures": {"gandi": {"count": 3, "until": ISO, "last": "quota"}, "ikoula": {"count": 1}},
    "closures:cancelled": {"r1": 1700000000},
    "load_slots:2026-11-23": {"480": 1234.5, "485": 99.0},
    "forecast_trend": [[ISO, 1.3]],
    "notify_stuck_drains": ["bbb-3"],
    "notify_quota_shortfall": 5,
}


def _write_as_older_version(store, key: str, value) -> None:
    """One settings row/item exactly as the older version's settings.put wrote it."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if hasattr(store, "database"):  # SQLite
        with store.database.writing() as cursor:
            cursor.execute(
                "INSERT INTO settings (cluster, key, value) VALUES (?, ?, ?)", (store.cluster, key, text)
            )
    else:  # DynamoDB: no `rev` attribute then
        item = {"pk": {"S": f"{store.cluster}#setting"}, "sk": {"S": key}, "value": {"S": text}}
        store.client.put_item(TableName=store.table, Item=item)


def test_a_state_an_older_version_wrote_reads_back_and_keeps_working(open_handle):
    store = open_handle()
    if not hasattr(store, "database") and not hasattr(store, "client"):
        pytest.skip("the memory store keeps nothing an older version could have written")
    for key, value in OLDER.items():
        _write_as_older_version(store, key, value)
    store = open_handle()
    assert store.guard_ledger.cordons() == OLDER["guard_cordons"]
    assert store.guard_readings.health() == GuardHealth(2, "UnreachableError: x", T0)
    assert store.guard_readings.last_spread() == OLDER["guard_spread"]
    assert store.guard_runs.last_run() == GuardRun(T0 + timedelta(minutes=10))
    assert store.guard_runs.last_load() == LoadReading(T0, 1500.0)
    assert store.tick_memory.recent() == (DesiredAt(T0, {"gandi": 4}),)
    assert store.room_memory.sizes(40.0).rooms == {"class-6b": [-1.0, 1700000000000, 38.5]}
    assert store.provider_failures.failures() == {
        "gandi": ProviderFailure(3, T0, "quota"),
        "ikoula": ProviderFailure(1, None, ""),
    }
    assert store.closures.cancelled_at("r1") == 1700000000
    assert store.load_history.slots(date(2026, 11, 23)) == {480: 1234.5, 485: 99.0}
    assert store.load_history.trend() == [TrendPoint(T0, 1.3)]
    assert store.announced.stuck_drains() == ["bbb-3"] and store.announced.shortfall() == 5
    # Changed in place (a conditional write on what the older version left: no `rev` yet on DynamoDB).
    store.guard_ledger.report(["enable bbb-7: room again"])
    assert store.guard_ledger.take_unreported() == ["cordon bbb-7: herded", "enable bbb-7: room again"]
    assert store.guard_readings.take_spread() == OLDER["guard_spread_unreported"]
    assert store.load_history.raise_slot(date(2026, 11, 23), 480, 2000.0) is True
    assert open_handle().load_history.slots(date(2026, 11, 23))[480] == 2000.0


# --- exactly once ----------------------------------------------------------------------------------
_ids = itertools.count(1)
#: One step: (handle 0 or 1, None to take, else how many lines to report).
steps = st.lists(st.tuples(st.integers(0, 1), st.none() | st.integers(1, 3)), max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_each_reported_line_is_taken_exactly_once_in_order(open_handle, plan):
    """Two handles (the guard's process, the tick's) report and take in any interleaving: joined, the
    takes give every line reported, once each, oldest first."""
    handles = [open_handle(), open_handle()]
    handles[0].guard_ledger.take_unreported()  # what an earlier example left
    reported: list[str] = []
    taken: list[str] = []
    for which, count in plan:
        ledger = handles[which].guard_ledger
        if count is None:
            taken += ledger.take_unreported()
        else:
            lines = [f"line {next(_ids)}" for _ in range(count)]
            ledger.report(lines)
            reported += lines
    taken += handles[0].guard_ledger.take_unreported()
    assert taken == reported


def test_racing_reporters_and_takers_lose_and_double_nothing(open_handle):
    """Threads on their own handles report one line at a time while two others take: every line is
    taken once. (SQLite: one write lock; DynamoDB: a PutItem conditional on the item read, retried.)"""
    reporters, per_reporter = 3, 8
    handles = [open_handle() for _ in range(reporters + 2)]
    gate = threading.Barrier(reporters + 2)
    done = threading.Event()
    taken: list[list[str]] = [[], []]

    def report(i: int) -> None:
        gate.wait()
        for n in range(per_reporter):
            handles[i].guard_ledger.report([f"guard {i} line {n}"])

    def take(j: int) -> None:
        gate.wait()
        while not done.is_set():
            taken[j] += handles[reporters + j].guard_ledger.take_unreported()
        taken[j] += handles[reporters + j].guard_ledger.take_unreported()

    workers = [threading.Thread(target=report, args=(i,)) for i in range(reporters)]
    takers = [threading.Thread(target=take, args=(j,)) for j in range(2)]
    for thread in workers + takers:
        thread.start()
    for thread in workers:
        thread.join(60)
    done.set()
    for thread in takers:
        thread.join(60)
    every = taken[0] + taken[1] + handles[0].guard_ledger.take_unreported()
    assert sorted(every) == sorted(
        f"guard {i} line {n}" for i in range(reporters) for n in range(per_reporter)
    )
    for i in range(reporters):  # each reporter's lines stay in its order, whoever took them
        for lines in taken:
            mine = [line for line in lines if line.startswith(f"guard {i} ")]
            assert mine == sorted(mine, key=lambda line: int(line.rsplit(" ", 1)[1]))
