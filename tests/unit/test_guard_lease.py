"""One burst guard per fleet, and one that survives its failures (chalicelib/service/guard_lease.py):
three guards on one SQLite file, as three `bbbscale run` processes have them, over the in-process
simulated fleet in a class-start window on a live clock. Only the lease holder looks; a guard whose
lease was taken makes no further look; a guard that raises out of its loop is started again, saying
why once per failure, in the history and in the next tick's report."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta

from bbbsim.embedded import sim_runtime
from chalicelib.adapters.metrics.prometheus import TickMetrics
from chalicelib.adapters.state.sqlite import SqliteStateStore
from chalicelib.run import start_guard
from chalicelib.service.guard import BurstGuard
from chalicelib.service.guard_lease import keep_guarding
from chalicelib.service.room_memory import GuardMemory
from tests.support.builders import T0, settings

CFG = settings(
    headroom={"percent": 0, "units": 1500},
    forecast={"enabled": False},
    guard={"burst_interval_seconds": 0.5, "interval_seconds": 0.5},
)
WINDOW = T0 + timedelta(hours=1, seconds=5)  # 11:00:05 Paris: the 11:00 class start's window


class Looks:
    """Scalelite port wrapper keeping when the guard read getServers (one per look)."""

    def __init__(self, inner):
        self.inner, self.at = inner, []

    def servers(self):
        self.at.append(time.monotonic())
        return self.inner.servers()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def live_clock():
    """A wall clock pinned into the class-start window: the guard looks every half second."""
    began = time.monotonic()
    return lambda: WINDOW + timedelta(seconds=time.monotonic() - began)


def failing(monkeypatch, times: int, thread: str) -> None:
    """The guard of the thread named `thread` raises out of its loop `times` times (a failure in one look
    is the guard's to skip; this is any other: a bug between two looks). Only that thread's: a guard left
    running by another test must not use up the failures."""
    left = [times]
    next_check = BurstGuard.next_check

    def broken(self, now):
        if left[0] > 0 and threading.current_thread().name == thread:
            left[0] -= 1
            raise RuntimeError("the guard's own bug")
        return next_check(self, now)

    monkeypatch.setattr(BurstGuard, "next_check", broken)


def process(rt, path):
    """The guard's ports as one more `bbbscale run` process has them: its own store handle on the file,
    its own Scalelite client (keep_guarding gives it a memory of its own)."""
    looks = Looks(rt.scalelite)
    store = SqliteStateStore(path, cluster=rt.settings.cluster)
    return replace(rt.ports(), store=store, scalelite=looks), looks


def guard_in_thread(ports, clock, seconds, owner, said=None, stall=240.0, failed=None):
    done: dict = {}

    def body():
        done["run"] = keep_guarding(
            ports,
            clock() + timedelta(seconds=seconds),
            time.sleep,
            clock,
            owner=owner,
            say=(said.append if said is not None else lambda line: None),
            ttl_seconds=2,
            standby_seconds=0.2,
            heartbeat=0.3,
            stall_seconds=stall,
            failed=(failed.append if failed is not None else lambda kind: None),
        )

    thread = threading.Thread(target=body, name=owner, daemon=True)
    thread.start()
    return thread, done


def test_of_three_guards_on_one_file_only_the_lease_holder_looks(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    with sim_runtime(CFG, WINDOW, http=False, store=SqliteStateStore(path, cluster="t")) as (rt, _, _):
        clock = live_clock()
        guards = [process(rt, path) for _ in range(3)]
        runs = [guard_in_thread(ports, clock, 2.5, f"guard-p{i}") for i, (ports, _) in enumerate(guards)]
        for thread, _ in runs:
            thread.join(10)
        looked = [len(looks.at) for _, looks in guards]
        assert sorted(looked)[:2] == [0, 0] and max(looked) >= 3, looked
        done = [d["run"] for _, d in runs]
        assert [r.held for r in done].count(True) == 1
        assert all(r.waited_seconds >= 2 for r in done if not r.held), "the others stood by"
        assert rt.store.guard_lease.holder(clock()) is None, "released at the end"


def test_a_guard_whose_lease_was_taken_looks_no_more(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    with sim_runtime(CFG, WINDOW, http=False, store=SqliteStateStore(path, cluster="t")) as (rt, _, _):
        clock = live_clock()
        ports, looks = process(rt, path)
        said: list[str] = []
        thread, done = guard_in_thread(ports, clock, 4.0, "guard-paused", said)
        time.sleep(1.0)
        assert looks.at, "it looked while it held the lease"
        # it was paused past its lease and another guard took it meanwhile: the other guard's acquire
        # at a moment past the 2-s lease, in one write (a release first would leave a gap in which the
        # paused guard's heartbeat, between its read and its renewal, takes the free lease again)
        assert rt.store.guard_lease.acquire("guard-other", clock() + timedelta(seconds=3), 60)
        taken = time.monotonic()
        thread.join(10)
        late = [t for t in looks.at if t > taken + 0.6]  # a look already under way may finish
        assert late == [], "no look after the lease was lost"
        assert done["run"].lost == 1 and said == [
            "burst guard lost its lease (another guard took over, or the store did not answer)"
        ]
        assert rt.store.guard_lease.holder(clock()) == "guard-other"


def test_a_guard_that_raises_is_started_again_and_says_why_once_per_failure(tmp_path, monkeypatch):
    path = str(tmp_path / "state.sqlite3")
    with sim_runtime(CFG, WINDOW, http=False, store=SqliteStateStore(path, cluster="t")) as (rt, _, _):
        clock = live_clock()
        ports, looks = process(rt, path)
        failing(monkeypatch, 2, "guard-a")
        said: list[str] = []
        kinds: list[str] = []
        thread, done = guard_in_thread(ports, clock, 5.0, "guard-a", said, failed=kinds)
        thread.join(15)
        run = done["run"]
        assert kinds == ["RuntimeError", "RuntimeError"]  # each failure's kind, for the metrics
        # (a heartbeat late past the 2 s lease on a loaded machine adds a lost lease line: not this test's)
        failed = [line for line in said if "lost its lease" not in line]
        assert failed == [
            "burst guard failed: RuntimeError: the guard's own bug; started again in 1 s",
            "burst guard failed: RuntimeError: the guard's own bug; started again in 2 s",
        ]
        assert run.failures == 2 and len(looks.at) >= 4, "it went on looking after both failures"
        kept = [e.summary for e in rt.store.history.recent(50, kind="guard")]
        assert sum(s.startswith("burst guard failed: RuntimeError") for s in kept) == 2
        report = rt.tick(now=clock())  # the next tick reports them (digest, chat)
        assert [line for line in report.guard or () if "failed" in line] == failed


def test_the_run_guard_thread_outlives_its_failures(tmp_path, monkeypatch):
    path = str(tmp_path / "state.sqlite3")
    with sim_runtime(CFG, WINDOW, http=False, store=SqliteStateStore(path, cluster="t")) as (rt, _, _):
        clock = live_clock()
        ports, looks = process(rt, path)
        failing(monkeypatch, 1, "burst-guard")
        said: list[str] = []
        collector = TickMetrics()  # `bbbscale run`'s Prometheus figures
        thread = start_guard(
            ports,
            GuardMemory(),
            clock,
            said.append,
            until=clock() + timedelta(seconds=3),
            failed=lambda kind: collector.guard_failed("t"),
        )
        assert thread is not None
        time.sleep(2.0)
        assert thread.is_alive() and said[0].startswith("burst guard failed: RuntimeError")
        assert collector.registry.get_sample_value("bbbscale_guard_failures_total", {"cluster": "t"}) == 1
        assert len(looks.at) >= 2, "looking again"
        thread.join(10)
        assert not thread.is_alive()


def test_a_guard_stuck_in_a_look_lets_another_take_over(tmp_path, monkeypatch):
    path = str(tmp_path / "state.sqlite3")
    stuck = threading.Event()
    check = BurstGuard.check

    def hangs(self, now):  # a call that never returns, for the first guard only
        if threading.current_thread().name == "guard-stuck":
            stuck.wait(20)
        return check(self, now)

    monkeypatch.setattr(BurstGuard, "check", hangs)
    with sim_runtime(CFG, WINDOW, http=False, store=SqliteStateStore(path, cluster="t")) as (rt, _, _):
        clock = live_clock()
        (first, _), (second, looks) = process(rt, path), process(rt, path)
        said: list[str] = []
        a, done_a = guard_in_thread(first, clock, 8.0, "guard-stuck", said, stall=1.0)
        assert wait_for(lambda: rt.store.guard_lease.holder(clock()) == "guard-stuck")
        b, done_b = guard_in_thread(second, clock, 8.0, "guard-healthy", stall=1.0)
        began = time.monotonic()
        assert wait_for(lambda: rt.store.guard_lease.holder(clock()) == "guard-healthy", 10)
        took = time.monotonic() - began
        assert took < 1.0 + 2 + 1.0, f"took over after {took:.1f} s (stall 1 s, lease 2 s)"
        stuck.set()  # the stuck call returns at last: the guard finds its lease gone and looks no more
        a.join(10)
        b.join(10)
        assert done_a["run"].lost >= 1 and said[0].startswith("burst guard lost its lease")
        assert done_b["run"].held and looks.at


def wait_for(what, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.05)
    return False
