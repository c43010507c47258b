"""`bbbscale run`: tick at the configured interval on a host without AWS, with the burst guard in a
thread beside the ticks and the EMF figures served as Prometheus metrics.

Every process runs a guard thread, but only the one holding the store's guard lease looks and acts; the
others stand by and take over within the lease's 30 s once its holder is killed. A guard that raises is
started again (service/guard_lease.py), so the thread never ends before the process.

Every process ticks at the start of each interval (wall-clock aligned), so with several processes on one
store one takes the lease and the others hold. A process that held retries every sixth of a lease until
the interval's tick was done: if the holder was killed, its lease lapses and another process acts within
one lease (plus a sixth), not one whole interval later.

SIGTERM (systemd's stop, a container's) ends it cleanly: the tick under way is cut (its lease released
by the tick itself), the guard thread stops and releases the guard lease, and the process exits 0, so a
restart finds both leases free instead of waiting out their 30-60 s.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from chalicelib.domain.kept import DesiredAt
from chalicelib.domain.tick_report import TickReport
from chalicelib.errors import one_line
from chalicelib.fleets import ClockPace, for_command
from chalicelib.plugins import RunPace
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.guard_lease import (
    GUARD_LEASE_SECONDS,
    STANDBY_SECONDS,
    guard_owner,
    keep_guarding,
)
from chalicelib.service.room_memory import GuardMemory


class Stopped(KeyboardInterrupt):
    """SIGTERM: stop at once, as Ctrl-C does, and say so."""


def _stoppable(stop: threading.Event | None) -> Callable[[float], None]:
    """time.sleep, or a sleep that ends the guard's thread once `stop` is set (SystemExit: the guard's
    own `finally` releases its lease on the way out; its restart loop catches Exception only)."""
    if stop is None:
        return time.sleep

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise SystemExit

    return sleep


def start_guard(
    ports: FleetPorts,
    memory: GuardMemory,
    clock=None,
    say=None,
    until=None,
    speed: float = 1.0,
    stop: threading.Event | None = None,
    failed=None,
) -> threading.Thread | None:
    """The burst guard in a daemon thread beside the tick (`[guard] enabled`); None when off. It looks
    only while it holds the fleet's guard lease (one guard per fleet, however many processes run), and
    a guard that fails is started again after a bounded backoff: nothing but the process ends it.
    `memory`: the tick's (the Wiring's): the guard keeps its own beside it, sharing the room sizes.
    `clock`: the time it reads (default: the wall clock); `say`: where a failure's line goes (stderr);
    `until`: when it stops (default: never); `speed`: how much faster than real time `clock` runs (the
    lease's heartbeat and standby, in real seconds, follow it); `stop`: set, the thread ends at its next
    pause and releases the guard lease; `failed`: gets each failure's kind (the metrics' count)."""
    if not ports.settings.guard.enabled:
        return None
    beside, remembered = ports.beside(), memory.beside()
    clock = clock or (lambda: datetime.now(UTC))
    say = say or _to_stderr
    failed = failed or (lambda kind: None)
    owner = guard_owner()
    until = until or clock() + timedelta(days=3650)
    pause = _stoppable(stop)  # every wait of the thread ends it once `stop` is set

    def loop() -> None:
        while True:  # keep_guarding survives its guard's failures; this survives keep_guarding's own
            try:
                keep_guarding(
                    beside,
                    until,
                    pause,  # its looks' cadence in real seconds, as before
                    clock,
                    owner,
                    say,
                    standby_seconds=STANDBY_SECONDS / speed,
                    heartbeat=GUARD_LEASE_SECONDS / 3 / speed,
                    memory=remembered,
                    failed=failed,
                )
                return
            except Exception as error:  # noqa: BLE001 - never end the guard; say why, wait, go on
                say(f"burst guard stopped: {type(error).__name__}; started again in 60 s")
                with contextlib.suppress(Exception):  # a figure that cannot be sent never ends the guard
                    failed(type(error).__name__)
                pause(60)

    thread = threading.Thread(target=loop, name="burst-guard", daemon=True)
    thread.start()
    return thread


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_forever(
    settings,
    dry_run: bool,
    max_ticks: int = 0,
    as_json: bool = False,
    speed: float = 1.0,
    start: datetime | None = None,
) -> int:
    """Tick at the configured interval until interrupted. Each tick prints one block (or one JSON
    document per line with --json)."""
    from chalicelib.adapters.metrics.prometheus import serving
    from chalicelib.render import tick_json

    interval = settings.interval_minutes * 60 / speed
    retry = settings.lifecycle.lease_seconds / 6 / speed
    with (
        for_command(settings, speed=speed, start=start) as (wiring, simulated_pace),
        serving(settings.metrics) as endpoint,
    ):
        # The fleet's time and world (plugins.RunPace): a real fleet's clock runs by itself; a simulated
        # one may be a clock this loop sets, with a world that follows the school day.
        pace: RunPace = simulated_pace or ClockPace(wiring.clock, speed)
        if endpoint is not None:
            endpoint.collector.begin(settings.cluster)  # the failure counters at 0 before any tick
        stop = threading.Event()
        guard = None
        if not dry_run:
            guard = start_guard(
                wiring.ports(),
                wiring.memory,
                pace.guard_clock,
                speed=pace.guard_speed,
                stop=stop,
                failed=(lambda kind: endpoint.collector.guard_failed(settings.cluster)) if endpoint else None,
            )
        _on_sigterm()

        took = [0.0]  # the last tick's wall-clock seconds

        def report(result: TickReport) -> None:
            if endpoint:  # the figures Lambda sends as EMF, for Prometheus (docs/metrics.md)
                endpoint.record(tick_json(result), settings.cluster, seconds=took[0])
            _show(result, as_json)

        def now_and_world() -> datetime:
            now = pace.moment()
            pace.follow(now)
            return now

        def crashed(kind: str) -> None:
            if endpoint is not None:
                endpoint.collector.crashed(kind, settings.cluster)

        def tick(now: datetime) -> TickReport | None:
            started = time.monotonic()
            try:
                return survive(lambda: wiring.tick(dry_run=dry_run, now=now), crashed)
            finally:
                took[0] = time.monotonic() - started

        done = 0
        try:
            while True:
                slot = time.time() - (time.time() % interval)
                now = now_and_world()
                result = tick(now)
                if result is not None:
                    report(result)
                done += 1
                if max_ticks and done >= max_ticks:
                    return 0
                while result is not None and result.lease_held and time.time() + retry < slot + interval:
                    time.sleep(retry)
                    slot_began = now + timedelta(seconds=(slot - time.time()) * speed)
                    if _ticked_since(wiring.store.tick_memory.recent(), slot_began):
                        break  # the holder finished this interval's tick
                    now = pace.moment()
                    result = tick(now)
                    if result is not None and not result.lease_held:
                        report(result)
                time.sleep(max(0.05, interval - (time.time() % interval)))

        except Stopped:
            print("bbbscale run: stopped (SIGTERM); the leases are released", file=sys.stderr, flush=True)
            return 0
        finally:
            stop.set()  # the guard thread ends at its next pause and releases the guard lease
            if guard is not None:
                guard.join(timeout=10)


def _on_sigterm() -> None:
    """SIGTERM stops the loop as Ctrl-C does (only the main thread may install a handler: a run started
    from another thread, as some tests do, keeps the default)."""

    def stopped(signum, frame) -> None:
        raise Stopped

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stopped)


def survive(tick, crashed: Callable[[str], None]) -> TickReport | None:
    """One tick that cannot end the loop (issue 23: a RecursionError from one hostile answer ended
    `bbbscale run`, and again at each restart): any exception is said in one stderr line with its
    kind, counted by `crashed(kind)` (`bbbscale_tick_exceptions_total{kind}`), and the loop ticks again as
    usual."""
    try:
        return tick()
    except Exception as error:  # noqa: BLE001 - whatever it is, the next tick must still come
        from chalicelib.observability import redact

        kind = type(error).__name__
        said = one_line(redact(str(error)), 300)
        print(f"tick failed ({kind}): {said}; next tick as usual", file=sys.stderr, flush=True)
        crashed(kind)
        return None


def _show(result: TickReport, as_json: bool) -> None:
    from chalicelib.render import print_tick, tick_json

    if as_json:
        print(json.dumps(tick_json(result)), flush=True)
    else:
        print_tick(result)
        sys.stdout.flush()


def _ticked_since(recent_desired: tuple[DesiredAt, ...], since: datetime) -> bool:
    """True when an acting tick recorded its desired counts at or after `since` (the tick's memory)."""
    return bool(recent_desired) and recent_desired[-1].at >= since
