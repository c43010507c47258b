"""The embedded default: a Runtime over a simulated world, with no cloud at all.

`sim_runtime` wires the real service to a SimWorld: over real HTTP through the local Scalelite (demo,
`tick`, `run`) or in-process (the simulator, where a school week must replay in seconds). Configurations
with real providers get a plain Runtime with the real adapters.
"""

from __future__ import annotations

import secrets as pysecrets
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime

from chalicelib.bootstrap import Runtime, env_secret
from chalicelib.sim.replay import SimClock


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
    poll_interval_s: float = 60.0,
):
    """Yield (runtime, world, clock) over a fresh simulated world; the owned pool is powered on and
    enabled in Scalelite. With `http`, every Scalelite and BBB call crosses real HTTP on loopback.
    `poll_interval_s`: Scalelite's POLL_INTERVAL in the simulated world."""
    import random

    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.sim.world import SimWorld

    world = SimWorld(random.Random(seed), poll_interval_s=poll_interval_s)
    clock = SimClock(start)
    lb_secret = pysecrets.token_hex(20)
    local = None
    if http:
        from chalicelib.adapters.scalelite.client import ScaleliteClient
        from chalicelib.sim.scalelite_http import LocalScalelite

        local = LocalScalelite(world, lb_secret).start()
        scalelite, bbb_factory = (
            ScaleliteClient(settings.scalelite.model_copy(update={"url": local.url}), lb_secret),
            None,
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
    try:
        _ = rt.providers  # build now: the static pool powers on and registers the owned servers
        world.advance(start)
        yield rt, world, clock
    finally:
        if local is not None:
            local.stop()


@contextmanager
def runtime_for(settings):
    """The runtime `bbbscale tick` uses: a simulated world seeded with the current hour's classes when
    the configuration is simulated, the real adapters otherwise."""
    if not is_simulated(settings):
        # Long provider batches say how far they got, on stderr (stdout is the tick's output).
        yield Runtime(settings, progress=lambda message: print(message, file=sys.stderr, flush=True))
        return
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with sim_runtime(settings, now, http=True) as (rt, world, clock):
        _seed_classes(world, now)
        yield rt


def _seed_classes(world, now: datetime) -> None:
    """Put today's simulated classes that are running at `now` into the world (an empty world otherwise)."""
    from chalicelib.sim.schoolday import generate_day

    for m in generate_day(now.date(), seed=now.toordinal()):
        if m.start <= now < m.end:
            world.create_meeting(
                m.meeting_id,
                m.start,
                participants=m.participants,
                moderators=1,
                voice=m.voice,
                video=m.video,
                listen_only=m.listen_only,
            )


def start_guard(rt):
    """The burst guard in a daemon thread beside the tick (`[guard] enabled`); None when off."""
    import threading
    from datetime import timedelta

    if rt.guard is None:
        return None
    guard = rt.beside().guard
    forever = datetime.now(UTC) + timedelta(days=3650)

    def loop() -> None:
        try:
            guard.run(until=forever, sleep=time.sleep, clock=lambda: datetime.now(UTC))
        except Exception as error:  # noqa: BLE001 - the tick goes on without the guard; say why
            print(f"burst guard stopped: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=loop, name="burst-guard", daemon=True)
    thread.start()
    return thread


def run_forever(settings, dry_run: bool, max_ticks: int = 0, as_json: bool = False) -> int:
    """Tick at the configured interval until interrupted (hosts without AWS). Each tick prints one block
    (or one JSON document per line with --json)."""
    import json

    from chalicelib.adapters.metrics.prometheus import serving
    from chalicelib.render import print_tick

    interval = settings.interval_minutes * 60
    with serving(settings.metrics) as endpoint, runtime_for(settings) as rt:
        if not dry_run:
            start_guard(rt)
        done = 0
        while True:
            now = datetime.now(UTC)
            if rt.world is not None:  # the simulated fleet follows the wall clock
                rt.clock.set(now)
                rt.world.advance(now)
            result = rt.tick(dry_run=dry_run, now=now)
            if endpoint:  # the figures Lambda sends as EMF, for Prometheus (docs/metrics.md)
                endpoint.record(result, settings.cluster)
            if as_json:
                print(json.dumps(result), flush=True)
            else:
                print_tick(result)
                sys.stdout.flush()
            done += 1
            if max_ticks and done >= max_ticks:
                return 0
            time.sleep(max(1.0, interval - (time.time() % interval)))
