"""The embedded default: a Runtime over a simulated world, with no cloud at all.

`sim_runtime` wires the real service to a SimWorld: over real HTTP through the local Scalelite (demo,
`tick`, `run`) or in-process (the simulator, where a school week must replay in seconds). Configurations
with real providers get a plain Runtime with the real adapters.
"""

from __future__ import annotations

import functools
import json
import secrets as pysecrets
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.bootstrap import Runtime, env_secret
from chalicelib.sim.replay import SimClock

if TYPE_CHECKING:
    from chalicelib.domain.tick_report import TickReport


def is_simulated(settings) -> bool:
    return any(p.kind == "simulated" for p in settings.providers.values())


@contextmanager
def sim_runtime(
    settings,
    start: datetime,
    *,
    http: bool = True,
    store=None,
    seed: int = 0,
    forecaster=None,
    notifier=None,
    progress=None,
    shared_path: str | None = None,
    clock=None,
    poll_interval_s: float = 60.0,
):
    """Yield (runtime, world, clock) over a simulated world; the owned pool is powered on and enabled in
    Scalelite. With `http`, every Scalelite and BBB call crosses real HTTP on loopback. With
    `shared_path`, the world lives in that SQLite file (chalicelib/sim/shared.py): every process on the
    file sees, and changes, the same fleet. `clock` replaces the settable SimClock (a live clock).
    `poll_interval_s`: Scalelite's POLL_INTERVAL in the simulated world."""
    import random

    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.sim.world import SimWorld

    world = SimWorld(random.Random(seed), poll_interval_s=poll_interval_s)
    if shared_path:
        from chalicelib.sim.shared import share_world

        share_world(world, shared_path, settings.cluster)
    clock = clock or SimClock(start)
    lb_secret = pysecrets.token_hex(20)
    local = None
    if http:
        from chalicelib.adapters.scalelite.client import ScaleliteClient
        from chalicelib.sim.scalelite_http import LocalScalelite

        local = LocalScalelite(world, lb_secret).start()
        scalelite, bbb_factory = (
            ScaleliteClient(settings.scalelite.model_copy(update={"url": local.url}), lb_secret),
            _local_bbb(settings, local),
        )
    else:
        from chalicelib.sim.direct import DirectBbb, DirectScalelite
        from chalicelib.sim.scalelite_model import name_in_url

        scalelite = DirectScalelite(world)
        bbb_factory = lambda url, secret, name: DirectBbb(world, name_in_url(url) or name, secret)  # noqa: E731
    rt = Runtime(
        settings,
        store=store or MemoryStateStore(cluster=settings.cluster),
        scalelite=scalelite,
        bbb_factory=bbb_factory,
        clock=clock,
        secret=env_secret,
        world=world,
        forecaster=forecaster,
        notifier=notifier,
        progress=progress,
    )
    rt.parallel_checks = http  # in-process checks are instant: threads would only add overhead
    if not http:
        rt.lease_heartbeat = 0  # an in-process tick takes milliseconds: no heartbeat thread per tick
    try:
        _ = rt.providers  # build now: the static pool powers on and registers the owned servers
        world.advance(start)
        yield rt, world, clock
    finally:
        if local is not None:
            local.stop()


def _local_bbb(settings, local):
    """BBB servers reached through this process's local Scalelite, whatever port the URL they were
    registered with names: with a shared world, another process (perhaps gone) may have registered it."""
    from chalicelib.bootstrap import bbb_api
    from chalicelib.sim.scalelite_model import name_in_url

    def bbb(url: str, secret: str, name: str | None):
        server = name_in_url(url)
        return bbb_api(settings.scalelite, local.server_url(server) if server else url, secret, name)

    return bbb


@contextmanager
def runtime_for(settings, speed: float = 1.0, start: datetime | None = None):
    """The runtime `bbbscale tick` and `run` use: the real adapters, or, when the configuration is
    simulated, a simulated world following the generated school day. With the sqlite state backend the
    world and the state both live in `[state] path`, so several processes share one fleet; the clock is
    then shared too (`speed` and `start` let tests run a day faster than real time)."""
    if not is_simulated(settings):
        from chalicelib.bootstrap import check_secrets

        check_secrets(settings)  # every missing secret named at once, before anything is called
        # Long provider batches say how far they got, on stderr (stdout is the tick's output).
        yield Runtime(settings, progress=lambda message: print(message, file=sys.stderr, flush=True))
        return
    shared_path, clock, store = None, None, None
    if settings.state.backend == "sqlite":
        from chalicelib.sim.shared import SharedClock

        shared_path = settings.state.path
        store = Runtime(settings).store  # opens (creates) the file first
        clock = SharedClock(shared_path, settings.cluster, start, speed)
    now = clock() if clock else datetime.now(UTC).replace(second=0, microsecond=0)
    with sim_runtime(settings, now, http=True, store=store, shared_path=shared_path, clock=clock) as (
        rt,
        world,
        _,
    ):
        follow_day(world, now)
        yield rt


def follow_day(world, now: datetime) -> None:
    """Make the world's classes those of the generated school day running at `now`: classes that began
    are created, classes that ended end normally (never counted as killed)."""
    running = {m.meeting_id: m for m in _day(now.date()) if m.start <= now < m.end}
    with world.lock:
        for meeting_id in [i for i in world.meetings if i.startswith("room-") and i not in running]:
            world.end_meeting(meeting_id)
        for m in running.values():
            if m.meeting_id not in world.meetings:
                world.create_meeting(
                    m.meeting_id,
                    m.start,
                    participants=m.participants,
                    moderators=1,
                    voice=m.voice,
                    video=m.video,
                    listen_only=m.listen_only,
                )


@functools.lru_cache(maxsize=2)
def _day(day):
    from chalicelib.sim.schoolday import generate_day

    return generate_day(day, seed=day.toordinal())


def start_guard(rt, clock=None):
    """The burst guard in a daemon thread beside the tick (`[guard] enabled`); None when off. `clock`:
    the time it reads (default: the wall clock)."""
    import threading
    from datetime import timedelta

    if rt.guard is None:
        return None
    guard = rt.beside().guard
    clock = clock or (lambda: datetime.now(UTC))
    forever = clock() + timedelta(days=3650)

    def loop() -> None:
        try:
            guard.run(until=forever, sleep=time.sleep, clock=clock)
        except Exception as error:  # noqa: BLE001 - the tick goes on without the guard; say why
            print(f"burst guard stopped: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=loop, name="burst-guard", daemon=True)
    thread.start()
    return thread


def run_forever(
    settings,
    dry_run: bool,
    max_ticks: int = 0,
    as_json: bool = False,
    speed: float = 1.0,
    start: datetime | None = None,
) -> int:
    """Tick at the configured interval until interrupted (hosts without AWS). Each tick prints one block
    (or one JSON document per line with --json).

    Every process ticks at the start of each interval (wall-clock aligned), so with several processes on
    one store one takes the lease and the others hold. A process that held retries every sixth of a
    lease until the interval's tick was done: if the holder was killed, its lease lapses and another
    process acts within one lease (plus a sixth), not one whole interval later."""
    from chalicelib.adapters.metrics.prometheus import serving
    from chalicelib.render import tick_json
    from chalicelib.service.observe import RECENT_DESIRED

    interval = settings.interval_minutes * 60 / speed
    retry = settings.lifecycle.lease_seconds / 6 / speed
    with serving(settings.metrics) as endpoint, runtime_for(settings, speed=speed, start=start) as rt:
        live = not isinstance(rt.clock, SimClock)  # a shared clock runs by itself; a SimClock is set
        if not dry_run:
            start_guard(rt, rt.clock if live else None)

        def report(result: TickReport) -> None:
            if endpoint:  # the figures Lambda sends as EMF, for Prometheus (docs/metrics.md)
                endpoint.record(tick_json(result), settings.cluster)
            _show(result, as_json)

        done = 0
        while True:
            slot = time.time() - (time.time() % interval)
            now = rt.clock() if live else datetime.now(UTC)
            if rt.world is not None:  # the simulated fleet follows the clock and the school day
                rt.clock.set(now)
                follow_day(rt.world, now)
                rt.world.advance(now)
            result = rt.tick(dry_run=dry_run, now=now)
            report(result)
            done += 1
            if max_ticks and done >= max_ticks:
                return 0
            while result.lease_held and time.time() + retry < slot + interval:
                time.sleep(retry)
                slot_began = now + timedelta(seconds=(slot - time.time()) * speed)
                if _ticked_since(rt.store.settings.get(RECENT_DESIRED, None), slot_began):
                    break  # the holder finished this interval's tick
                now = rt.clock() if live else datetime.now(UTC)
                rt.clock.set(now)
                result = rt.tick(dry_run=dry_run, now=now)
                if not result.lease_held:
                    report(result)
            time.sleep(max(0.05, interval - (time.time() % interval)))


def _show(result: TickReport, as_json: bool) -> None:
    from chalicelib.render import print_tick, tick_json

    if as_json:
        print(json.dumps(tick_json(result)), flush=True)
    else:
        print_tick(result)
        sys.stdout.flush()


def _ticked_since(recent_desired, since: datetime) -> bool:
    """True when an acting tick recorded its desired counts at or after `since`."""
    return bool(recent_desired) and datetime.fromisoformat(recent_desired[-1][0]) >= since
