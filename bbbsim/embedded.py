"""The embedded default: the real service over a simulated world, with no cloud at all.

`build_fleet` is the one builder of a simulated fleet (a fresh world, shared through a SQLite file when
asked), and `simulated_wiring` the one place one is wired: the world's providers (kind "simulated", each
handed the world), its Scalelite and BBB servers — over real HTTP through the local Scalelite (demo,
`tick`, `run`) or in process (the simulator, where a school week must replay in seconds; the resident
fleet of `chalice local`). `sim_runtime` wraps it for one run; bbbsim/resident.py keeps one per process;
bbbsim/plugin.py hands `tick` and `run` theirs.
"""

from __future__ import annotations

import functools
import random
import secrets as pysecrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bbbsim.replay import SimClock
from bbbsim.world import SimWorld
from chalicelib.bootstrap import Wiring, build_provider, env_secret
from chalicelib.ports import ProviderContext, Scalelite

if TYPE_CHECKING:
    from bbbsim.scalelite_http import LocalScalelite


@dataclass
class SimulatedFleet:
    """A wired simulated fleet: the wiring the service runs on, its world, and the local Scalelite when
    the calls cross HTTP (stopped by `close`)."""

    wiring: Wiring
    world: SimWorld
    local: LocalScalelite | None = None

    def close(self) -> None:
        if self.local is not None:
            self.local.stop()


def simulated_wiring(
    settings,
    world: SimWorld,
    *,
    http: bool,
    clock,
    store=None,
    forecaster=None,
    notifier=None,
    progress=None,
    lease_heartbeat: float | None = None,
) -> SimulatedFleet:
    """Wire the real service to `world`. With `http`, every Scalelite and BBB call crosses real HTTP on
    loopback (a local Scalelite on a free port); else the calls stay in process (servers read in turn:
    threads would only add overhead). The owned pool is powered on and enabled once built."""
    local = None
    scalelite: Scalelite
    if http:
        from bbbsim.scalelite_http import LocalScalelite
        from chalicelib.adapters.scalelite.client import ScaleliteClient

        lb_secret = pysecrets.token_hex(20)
        local = LocalScalelite(world, lb_secret).start()
        scalelite = ScaleliteClient(settings.scalelite.model_copy(update={"url": local.url}), lb_secret)
        bbb_factory = _local_bbb(settings, local)
    else:
        from bbbsim.direct import DirectBbb, DirectScalelite
        from bbbsim.scalelite_model import name_in_url

        scalelite = DirectScalelite(world)
        bbb_factory = lambda url, secret, name: DirectBbb(world, name_in_url(url) or name, secret)  # noqa: E731
    wiring = Wiring(
        settings,
        store=store,
        scalelite=scalelite,
        providers=simulated_providers(settings, world, clock, env_secret),
        bbb_factory=bbb_factory,
        clock=clock,
        secret=env_secret,
        forecaster=forecaster,
        notifier=notifier,
        progress=progress,
        parallel_checks=http,
        lease_heartbeat=lease_heartbeat,
    )
    return SimulatedFleet(wiring, world, local)


def simulated_providers(settings, world: SimWorld, clock, secret) -> dict:
    """Each configured provider: the simulated cloud over `world` for kind "simulated" (the static pool
    powers on and registers the owned servers here), the production adapter for any other kind."""
    from bbbsim.cloud import SimulatedCloud

    context = ProviderContext(cluster=settings.cluster, now=clock, secret=secret)
    return {
        name: SimulatedCloud(name, p, p.options, context, world)
        if p.kind == "simulated"
        else build_provider(name, p, context)
        for name, p in settings.providers.items()
    }


def build_fleet(
    settings,
    start: datetime,
    *,
    http: bool,
    clock,
    store=None,
    seed: int = 0,
    forecaster=None,
    notifier=None,
    progress=None,
    shared_path: str | None = None,
    poll_interval_s: float = 60.0,
    lease_heartbeat: float | None = None,
    advance: bool = True,
) -> SimulatedFleet:
    """The one builder of a simulated fleet: a fresh world (seeded; with `shared_path`, kept in that
    SQLite file, bbbsim/shared.py, so every process on the file sees and changes the same fleet),
    the real service wired to it (`simulated_wiring`), the world advanced to `start` (unless
    `advance` is False: the caller first puts its classes in). `store` None: the configuration's own
    state store. `poll_interval_s`: Scalelite's POLL_INTERVAL in the world."""
    world = SimWorld(random.Random(seed), poll_interval_s=poll_interval_s)
    if shared_path:
        from bbbsim.shared import share_world

        share_world(world, shared_path, settings.cluster)
    fleet = simulated_wiring(
        settings,
        world,
        http=http,
        clock=clock,
        store=store,
        forecaster=forecaster,
        notifier=notifier,
        progress=progress,
        lease_heartbeat=lease_heartbeat,
    )
    try:
        if advance:
            world.advance(start)
    except BaseException:
        fleet.close()
        raise
    return fleet


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
    """Yield (wiring, world, clock) over a fresh simulated world (`build_fleet`), stopped on exit; the
    owned pool is powered on and enabled in Scalelite. `clock` replaces the settable SimClock (a live
    clock). The state defaults to a memory store."""
    from chalicelib.adapters.state.memory import MemoryStateStore

    clock = clock or SimClock(start)
    fleet = build_fleet(
        settings,
        start,
        http=http,
        clock=clock,
        store=store or MemoryStateStore(cluster=settings.cluster),
        seed=seed,
        forecaster=forecaster,
        notifier=notifier,
        progress=progress,
        shared_path=shared_path,
        poll_interval_s=poll_interval_s,
        lease_heartbeat=None if http else 0,  # an in-process tick takes milliseconds: no heartbeat
    )
    try:
        yield fleet.wiring, fleet.world, clock
    finally:
        fleet.close()


def _local_bbb(settings, local):
    """BBB servers reached through this process's local Scalelite, whatever port the URL they were
    registered with names: with a shared world, another process (perhaps gone) may have registered it."""
    from bbbsim.scalelite_model import name_in_url
    from chalicelib.adapters.scalelite.servers import bbb_api

    def bbb(url: str, secret: str, name: str | None):
        server = name_in_url(url)
        return bbb_api(settings.scalelite, local.server_url(server) if server else url, secret, name)

    return bbb


def follow_school_day(world: SimWorld, now: datetime) -> None:
    """Make the world's classes those of the generated school day running at `now`: classes that began
    are created (at their start), classes that ended end normally (never counted as killed)."""
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
    from bbbsim.schoolday import generate_day

    return tuple(generate_day(day, seed=day.toordinal()))
