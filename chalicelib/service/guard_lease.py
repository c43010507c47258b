"""One burst guard per fleet at a time, and one that outlives its failures.

Every `bbbscale run` process has a guard thread and every class start on AWS a guard function run, but
only one of them may act on a fleet: two guards would each cordon and enable from their own looks. So
the guard looks only while it holds the store's guard lease (`StateStore.guard_lease`, apart from the
tick's), renewed by a heartbeat (service/lease.py's LeaseHold) and read again before each look: a guard
that lost it (taken over after a pause, its store unreachable) stops before its next look. The others
stand by, trying the lease every few seconds, and take over once a killed holder's lease has run out.

A guard that raises (a room the guard cannot read, a bug) is started afresh after a bounded backoff
(1 s doubling to 60 s; a guard that ran 5 minutes before failing starts from 1 s again), the reason said
once per failure and kept in the history and the next tick's report; the lease is released meanwhile,
so a healthy process may take over. A guard stuck in a look (a call that never returns) stops renewing
its lease after `STALL_SECONDS`, so another guard takes over. Nothing here ends the loop but its `until`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.credentials import mask_credentials
from chalicelib.ports import HistoryEntry, StateStore
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.guard import burst_guard
from chalicelib.service.lease import LeaseHold
from chalicelib.service.room_memory import GuardMemory

#: The guard lease's length: how long a killed guard's fleet waits for another guard to take over.
GUARD_LEASE_SECONDS = 30
#: How often a guard without the lease tries it again.
STANDBY_SECONDS = 5.0
BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS = 1.0, 60.0
#: A guard that ran this long before it failed starts its backoff afresh.
HEALTHY_SECONDS = 300.0
#: A look loop that has not come back for this long (real seconds: past its longest wait, 60 s, and a
#: look's slowest calls) is stuck: its lease is no longer renewed, so another guard takes over.
STALL_SECONDS = 240.0


class GuardLeaseLost(BaseException):  # noqa: N818 - a signal that ends the look loop, not an error
    """Raised from the guard's sleep when its lease is gone, so it makes no further look. A
    BaseException, so that no `except Exception` around a look swallows it."""


@dataclass
class GuardRun:
    """What one `keep_guarding` did: looks and changes over every guard it started, the failures it
    survived, the times it lost the lease, whether it ever held it, and how long it stood by for it."""

    looks: int = 0
    changes: int = 0
    failures: int = 0
    lost: int = 0
    held: bool = False
    waited_seconds: float = 0.0


def guard_owner(label: str = "guard") -> str:
    """A guard lease owner that says which process holds it (host, pid), unique per call."""
    return f"{label}-{socket.gethostname()[:20]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def report_line(store: StateStore, now: datetime, line: str, detail: dict) -> None:
    """Keep one line about the guard in the history (kind `guard`) and for the next tick's report and
    chat digest; a store that does not answer loses the line, never the caller."""
    try:
        store.history.record(HistoryEntry(now, "guard", line, detail, actor="guard"))
        store.guard_ledger.report([line])
    except Exception:  # noqa: BLE001 - said on stderr or in the log already; the guard goes on
        pass


def keep_guarding(
    ports: FleetPorts,
    until: datetime,
    sleep: Callable[[float], None],
    clock: Callable[[], datetime],
    owner: str | None = None,
    say: Callable[[str], None] = lambda line: None,
    ttl_seconds: int = GUARD_LEASE_SECONDS,
    standby_seconds: float = STANDBY_SECONDS,
    heartbeat: float | None = None,
    stall_seconds: float = STALL_SECONDS,
    memory: GuardMemory | None = None,
    failed: Callable[[str], None] = lambda kind: None,
) -> GuardRun:
    """Look with the burst guard until `until`, only while holding the fleet's guard lease; stand by
    for it otherwise; survive every failure. `say` gets one line per failure or lost lease, `failed`
    each failure's kind (the exception's name: the guard-failure figure of docs/alarms.md). `memory`:
    the room sizes this process learned (`bbbscale run` hands the tick's, `GuardMemory.beside`; None: a
    memory of its own, read from the store, as the guard function on AWS)."""
    run = GuardRun()
    memory = GuardMemory() if memory is None else memory
    owner = owner or guard_owner()
    in_a_row = 0
    while clock() < until:
        looking = _WhileLooking(ports.store.guard_lease, stall_seconds)
        hold = LeaseHold(looking, owner, clock, ttl_seconds, heartbeat)
        started, guard, taken = time.monotonic(), None, False
        try:
            taken = hold.take(clock())
            if not taken:
                pause = max(0.0, min(standby_seconds, (until - clock()).total_seconds()))
                sleep(pause)
                run.waited_seconds += pause
                continue
            run.held = True
            memory.guard = None  # a fresh guard: a failed or displaced one's looks are not trusted
            guard = burst_guard(ports, memory)
            if guard is None:
                return run  # switched off
            guard.run(until, _leased(hold, looking, sleep), clock)
        except GuardLeaseLost:
            run.lost += 1
            line = "burst guard lost its lease (another guard took over, or the store did not answer)"
            say(line)
            report_line(ports.store, clock(), line, {"owner": owner})
        except Exception as error:  # noqa: BLE001 - any failure: restart, never end
            run.failures += 1
            in_a_row = 1 if time.monotonic() - started >= HEALTHY_SECONDS else in_a_row + 1
            delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (in_a_row - 1))
            said = mask_credentials(f"{type(error).__name__}: {error}")[:300]
            line = f"burst guard failed: {said}; started again in {delay:.0f} s"
            say(line)
            with contextlib.suppress(Exception):  # a figure that cannot be sent never ends the guard
                failed(type(error).__name__)
            report_line(ports.store, clock(), line, {"error": said, "failures": run.failures, "delay": delay})
            _release(hold, taken)  # while it waits, a healthy guard elsewhere may act
            taken = False
            sleep(delay)
        finally:
            if guard is not None:
                run.looks, run.changes = run.looks + guard.looks, run.changes + guard.changes
            _release(hold, taken)
    return run


class _WhileLooking:
    """The guard lease as the heartbeat renews it: only while the look loop comes back between looks
    (`alive()`), so a guard stuck in a look lets its lease lapse rather than hold the fleet's guard."""

    def __init__(self, lease, stall_seconds: float):
        self.lease, self.stall = lease, stall_seconds
        self.progress = time.monotonic()

    def alive(self) -> None:
        self.progress = time.monotonic()

    def acquire(self, owner: str, now: datetime, ttl_seconds: int) -> bool:
        if time.monotonic() - self.progress > self.stall:
            return False
        return self.lease.acquire(owner, now, ttl_seconds)

    def holds(self, owner: str, now: datetime) -> bool:
        return self.lease.holds(owner, now)

    def release(self, owner: str) -> None:
        self.lease.release(owner)


def _leased(
    hold: LeaseHold, looking: _WhileLooking, sleep: Callable[[float], None]
) -> Callable[[float], None]:
    """The guard's sleep between two looks (the loop is alive), followed by a fresh read of its lease:
    no look without the lease."""

    def pause(seconds: float) -> None:
        looking.alive()
        sleep(seconds)
        looking.alive()
        if not hold.holds():
            raise GuardLeaseLost

    return pause


def _release(hold: LeaseHold, taken: bool) -> None:
    if not taken:
        return
    try:
        hold.release()
    except Exception:  # noqa: BLE001 - an unreachable store: the lease runs out by itself
        pass
