"""The simulated fleet of a long-lived process: what the Lambda handlers tick when the configuration is
the embedded default (`chalice local --stage local`, `chalice.test.Client(app, stage_name="local")`).

`bbbscale tick` builds a fresh world for its one tick; a process that serves requests and scheduled
checks keeps one world instead, on the wall clock, so a server started by one check is still booting at
the next and a chat `status` shows it, and the generated school day's classes start and end on time. The state store is the configuration's own (the local stage's
SQLite file): reservations, floors and freezes set over HTTP are what the next check reads. A restarted
process starts a new world; the stored servers it no longer has are reconciled like any vanished VM.
"""

from __future__ import annotations

import random
import threading
from datetime import date, datetime
from functools import lru_cache

from chalicelib.bootstrap import Runtime, env_secret, utcnow

_runtimes: dict[str, Runtime] = {}
_lock = threading.Lock()


def resident_runtime(settings, now: datetime | None = None) -> Runtime:
    """The process's runtime for these settings, its simulated world advanced to `now` (default: the
    wall clock), with the classes of the generated school day that are running then."""
    now = now or utcnow()
    key = settings.model_dump_json()
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _runtimes[key] = _build(settings, now)
        _follow_the_school_day(runtime.world, now)
    runtime.world.advance(now)
    return runtime


@lru_cache(maxsize=2)
def _school_day(day: date) -> tuple:
    from chalicelib.sim.schoolday import generate_day

    return tuple(generate_day(day, seed=day.toordinal()))


def _follow_the_school_day(world, now: datetime) -> None:
    """Classes start and end with the clock: the world holds exactly the generated day's meetings that
    run at `now` (the same day `bbbscale tick` seeds its one-tick world with)."""
    running = {m.meeting_id: m for m in _school_day(now.date()) if m.start <= now < m.end}
    for meeting_id in [m for m in list(world.meetings) if m not in running]:
        world.end_meeting(meeting_id)
    for m in running.values():  # an id already in the world stays where it is
        world.create_meeting(
            m.meeting_id,
            now,
            participants=m.participants,
            moderators=1,
            voice=m.voice,
            video=m.video,
            listen_only=m.listen_only,
        )


def _build(settings, now: datetime) -> Runtime:
    """A world with the owned pool powered on and enabled, behind the in-process Scalelite (no port to
    hold open between invocations)."""
    from chalicelib.sim.direct import DirectBbb, DirectScalelite
    from chalicelib.sim.scalelite_model import name_in_url
    from chalicelib.sim.world import SimWorld

    world = SimWorld(random.Random(0))
    runtime = Runtime(
        settings,
        scalelite=DirectScalelite(world),
        bbb_factory=lambda url, secret, name: DirectBbb(world, name_in_url(url) or name, secret),
        clock=utcnow,
        secret=env_secret,
        world=world,
    )
    runtime.parallel_checks = False  # in-process checks are instant: threads would only add overhead
    _ = runtime.providers  # the static pool powers on and registers the owned servers
    world.advance(now)
    return runtime
