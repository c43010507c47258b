"""The StateStore contract: memory, SQLite and DynamoDB (on moto's server) behave identically."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.state.records import RecordError
from chalicelib.domain.fleet import Server, ServerState
from chalicelib.ports import ConflictError, HistoryEntry, Reservation

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def a_server(name="bbbscale-demo-gandi-1", **changes) -> Server:
    base = Server(name=name, provider="gandi", state=ServerState.REQUESTED, since=T0, capacity=300.0)
    return replace(base, **changes)


def a_reservation(rid="closure-1", users=5000, **changes) -> Reservation:
    base = Reservation(
        id=rid, starts_at=T0, ends_at=T0 + timedelta(hours=8), expected_users=users, body_hash="h1"
    )
    return replace(base, **changes)


# --- servers -----------------------------------------------------------------------------------------
def test_save_inserts_then_updates_with_version_check(store):
    first = store.servers.save(a_server())
    assert first.version == 1
    moved = store.servers.save(
        first.moved(ServerState.BOOTING, T0 + timedelta(minutes=1), "vm created", vm_id="i-1")
    )
    assert (moved.version, moved.state, moved.vm_id) == (2, ServerState.BOOTING, "i-1")
    assert store.servers.servers() == [moved]


@pytest.mark.parametrize("stale_version", [0, 1, 5])
def test_a_stale_save_conflicts_and_changes_nothing(store, stale_version):
    store.servers.save(store.servers.save(a_server()))  # stored version 2
    with pytest.raises(ConflictError):
        store.servers.save(a_server(version=stale_version, reason="stale writer"))
    (kept,) = store.servers.servers()
    assert (kept.version, kept.reason) == (2, "")


def test_forget_removes_a_record_only_at_the_version_read(store):
    first = store.servers.save(a_server())
    done = store.servers.save(first.moved(ServerState.DESTROYED, T0 + timedelta(hours=1), "destroyed"))
    assert store.servers.forget(first) is False, "a stale version is not forgotten"
    assert store.servers.servers() == [done]
    assert store.servers.forget(done) is True
    assert store.servers.servers() == []
    assert store.servers.forget(done) is False
    assert store.servers.next_number("gandi") == 1, "forgetting never frees a number"


def test_updating_a_server_never_stored_conflicts(store):
    with pytest.raises(ConflictError):
        store.servers.save(a_server(version=3))
    assert store.servers.servers() == []


def test_bad_server_record_is_refused_before_any_write(store):
    with pytest.raises(RecordError, match="naive"):
        store.servers.save(a_server(since=datetime(2026, 11, 23, 8, 0)))
    assert store.servers.servers() == []


def test_servers_are_listed_by_name(store):
    for n in (3, 1, 2):
        store.servers.save(a_server(f"bbbscale-demo-gandi-{n}"))
    assert [s.name for s in store.servers.servers()] == [f"bbbscale-demo-gandi-{n}" for n in (1, 2, 3)]


def test_next_number_counts_per_provider(store):
    assert [store.servers.next_number("gandi") for _ in range(3)] == [1, 2, 3]
    assert store.servers.next_number("ikoula") == 1
    assert store.servers.next_number("gandi") == 4


# --- history -----------------------------------------------------------------------------------------
def test_history_comes_back_newest_first_with_limit_and_kind(store):
    for minute, kind in [(0, "tick"), (2, "action"), (1, "tick"), (3, "command")]:
        store.history.record(HistoryEntry(at=T0 + timedelta(minutes=minute), kind=kind, summary=f"m{minute}"))
    assert [e.summary for e in store.history.recent()] == ["m3", "m2", "m1", "m0"]
    assert [e.summary for e in store.history.recent(limit=2)] == ["m3", "m2"]
    assert [e.summary for e in store.history.recent(kind="tick")] == ["m1", "m0"]
    assert store.history.recent(kind="transition") == []


def test_history_entries_at_the_same_time_come_back_newest_recorded_first(store):
    for n in range(3):
        store.history.record(HistoryEntry(at=T0, kind="action", summary=f"a{n}"))
    assert [e.summary for e in store.history.recent()] == ["a2", "a1", "a0"]


def test_history_keeps_detail_and_actor(store):
    entry = HistoryEntry(
        at=T0, kind="command", summary="freeze 2h", detail={"for": 7200, "by": ["U1"]}, actor="chat:U1"
    )
    store.history.record(entry)
    assert store.history.recent() == [entry]


def test_history_older_than_the_retention_window_is_pruned(open_handle):
    store = open_handle()
    if store.__class__.__name__ == "DynamoStateStore":
        pytest.skip(
            "DynamoDB's TTL deletes lazily, outside our control (test_dynamodb_layout checks the attribute)"
        )
    for day in (0, 10, 31):
        store.history.record(HistoryEntry(at=T0 + timedelta(days=day), kind="tick", summary=f"day {day}"))
    assert [e.summary for e in store.history.recent()] == ["day 31", "day 10"]


# --- settings ----------------------------------------------------------------------------------------
def test_settings_hold_json_values(store):
    assert store.settings.get("freeze") is None
    assert store.settings.get("freeze", {"until": None}) == {"until": None}
    store.settings.put("floors", {"gandi": 4, "ratio": 0.25, "names": ["a", "b"], "off": None})
    store.settings.put("floors", {"gandi": 5})
    assert store.settings.get("floors") == {"gandi": 5}


def test_a_value_json_cannot_hold_is_refused_and_changes_nothing(store):
    store.settings.put("freeze", True)
    with pytest.raises(RecordError):
        store.settings.put("freeze", object())
    assert store.settings.get("freeze") is True


# --- reservations ------------------------------------------------------------------------------------
def test_add_never_overwrites_an_existing_id(store):
    created = store.reservations.add(a_reservation())
    assert created == (a_reservation(), True)
    again = store.reservations.add(a_reservation(users=99, body_hash="h2"))
    assert again == (a_reservation(), False)
    assert store.reservations.reservations() == [a_reservation()]


def test_reservations_list_by_start_and_cancel(store):
    late = a_reservation("b", starts_at=T0 + timedelta(days=1), ends_at=T0 + timedelta(days=2))
    store.reservations.add(late)
    store.reservations.add(a_reservation("a"))
    assert [r.id for r in store.reservations.reservations()] == ["a", "b"]
    assert store.reservations.cancel("a") is True
    assert store.reservations.cancel("a") is False
    assert store.reservations.reservations() == [late]


# --- leases: the tick's and the burst guard's, each its own -----------------------------------------
LEASES = ["lease", "guard_lease"]


@pytest.mark.parametrize("which", LEASES)
def test_lease_is_held_by_one_owner_until_it_expires(store, which):
    lease = getattr(store, which)
    assert lease.acquire("tick-a", T0, 300)
    assert not lease.acquire("tick-b", T0 + timedelta(seconds=299), 300)
    assert lease.acquire("tick-a", T0 + timedelta(seconds=200), 300)  # renewal moves the end
    assert not lease.acquire("tick-b", T0 + timedelta(seconds=400), 300)
    assert lease.acquire("tick-b", T0 + timedelta(seconds=500), 300)


@pytest.mark.parametrize("which", LEASES)
def test_a_lease_ending_past_what_this_clock_could_give_is_taken_over(store, which):
    # A tick killed, then the host's clock stepped back an hour (an NTP step after a resume): its lease
    # "ran" an hour more, and every check held ("another capacity check holds the lease") that long.
    lease = getattr(store, which)
    assert lease.acquire("tick-dead", T0 + timedelta(hours=1), 60)
    assert not lease.acquire("tick-b", T0 + timedelta(hours=1, seconds=30), 60)  # a live one is kept
    assert not lease.acquire("tick-b", T0 + timedelta(seconds=3600 + 60 - 60 - 300), 60), "within the slack"
    assert lease.acquire("tick-b", T0, 60)
    assert lease.holder(T0 + timedelta(seconds=30)) == "tick-b"


@pytest.mark.parametrize("which", LEASES)
def test_holds_is_true_only_for_the_owner_of_an_unexpired_lease(store, which):
    lease = getattr(store, which)
    assert not lease.holds("tick-a", T0)
    assert lease.acquire("tick-a", T0, 60)
    assert lease.holds("tick-a", T0 + timedelta(seconds=59))
    assert not lease.holds("tick-b", T0 + timedelta(seconds=30))
    assert not lease.holds("tick-a", T0 + timedelta(seconds=60)), "run out"
    assert lease.acquire("tick-b", T0 + timedelta(seconds=61), 60)
    assert not lease.holds("tick-a", T0 + timedelta(seconds=62)), "taken over"
    lease.release("tick-b")
    assert not lease.holds("tick-b", T0 + timedelta(seconds=62))


@pytest.mark.parametrize("which", LEASES)
def test_lease_is_released_only_by_its_holder(store, which):
    lease = getattr(store, which)
    assert lease.acquire("tick-a", T0, 300)
    lease.release("tick-b")
    assert not lease.acquire("tick-b", T0, 300)
    lease.release("tick-a")
    assert lease.acquire("tick-b", T0, 300)


@pytest.mark.parametrize("which", LEASES)
def test_holder_names_the_owner_of_an_unexpired_lease_only(store, which):
    lease = getattr(store, which)
    assert lease.holder(T0) is None
    assert lease.acquire("guard-a", T0, 30)
    assert lease.holder(T0 + timedelta(seconds=29)) == "guard-a"
    assert lease.holder(T0 + timedelta(seconds=30)) is None, "run out"
    lease.release("guard-a")
    assert lease.holder(T0) is None, "released"


def test_the_tick_lease_and_the_guard_lease_are_apart(open_handle):
    store, other = open_handle(), open_handle()
    assert store.lease.acquire("tick-a", T0, 300)
    assert other.guard_lease.acquire("guard-b", T0, 30), "a tick's lease does not hold the guard off"
    assert not store.guard_lease.acquire("guard-c", T0 + timedelta(seconds=10), 30)
    assert other.lease.holder(T0) == "tick-a" and store.guard_lease.holder(T0) == "guard-b"
    store.guard_lease.release("guard-b")
    assert other.lease.holds("tick-a", T0 + timedelta(seconds=1)), "releasing one leaves the other"
    assert other.guard_lease.acquire("guard-c", T0 + timedelta(seconds=1), 30)


# --- scoping -----------------------------------------------------------------------------------------
def test_clusters_sharing_a_backend_do_not_see_each_other(open_handle):
    store, other = open_handle(), open_handle("another-cluster")
    store.servers.save(a_server())
    store.settings.put("freeze", True)
    store.reservations.add(a_reservation())
    store.history.record(HistoryEntry(at=T0, kind="tick", summary="one"))
    assert store.lease.acquire("tick-a", T0, 300) and store.guard_lease.acquire("guard-a", T0, 30)
    assert other.guard_lease.holder(T0) is None and other.guard_lease.acquire("guard-b", T0, 30)
    assert other.servers.servers() == [] and other.settings.get("freeze") is None
    assert other.reservations.reservations() == [] and other.history.recent() == []
    assert other.servers.next_number("gandi") == 1 and other.lease.acquire("tick-b", T0, 300)


# --- races -------------------------------------------------------------------------------------------
def _race(open_handle, attempt, contenders: int):
    """Run `attempt(handle, i)` from `contenders` threads released together; returns their results."""
    handles = [open_handle() for _ in range(contenders)]
    gate = threading.Barrier(contenders)
    results: list = [None] * contenders

    def run(i):
        gate.wait()
        try:
            results[i] = attempt(handles[i], i)
        except ConflictError as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.parametrize("which", LEASES)
def test_two_racing_for_a_lease_exactly_one_wins(open_handle, which):
    for round_ in range(5):
        at = T0 + timedelta(minutes=10 * round_)  # each round starts after the previous lease expired
        won = _race(
            open_handle,
            lambda h, i, r=round_, at=at: getattr(h, which).acquire(f"owner-{r}-{i}", at, 300),
            3 if which == "guard_lease" else 2,  # three `bbbscale run` guards on one fleet
        )
        assert sorted(won) == [False] * (len(won) - 1) + [True]


def test_concurrent_saves_of_the_same_version_exactly_one_wins(open_handle):
    stored = open_handle().servers.save(a_server())
    results = _race(open_handle, lambda h, i: h.servers.save(replace(stored, reason=f"writer {i}")), 4)
    winners = [r for r in results if isinstance(r, Server)]
    assert len(winners) == 1 and sum(isinstance(r, ConflictError) for r in results) == 3
    assert open_handle().servers.servers() == winners


def test_next_number_is_unique_under_concurrency(open_handle):
    results = _race(open_handle, lambda h, i: [h.servers.next_number("gandi") for _ in range(8)], 4)
    numbers = [n for batch in results for n in batch]
    assert sorted(numbers) == list(range(1, 33))
