"""The simulated fleet of a long-lived process: what the Lambda handlers tick when the configuration is
the embedded default (`chalice local --stage local`, `chalice.test.Client(app, stage_name="local")`).

`bbbscale tick` builds a fresh world for its one tick; a process that serves requests and scheduled
checks keeps one world instead, on the wall clock, so a server started by one check is still booting at
the next and a chat `status` shows it. The state store is the configuration's own (the local stage's
SQLite file): reservations, floors and freezes set over HTTP are what the next check reads. A restarted
process starts a new world; the stored servers it no longer has are reconciled like any vanished VM.
"""

from __future__ import annotations

import random
import threading

from chalicelib.bootstrap import Runtime, env_secret, utcnow

_runtimes: dict[str, Runtime] = {}
_lock = threading.Lock()


def resident_runtime(settings) -> Runtime:
    """The process's runtime for these settings, its simulated world advanced to now."""
    key = settings.model_dump_json()
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _runtimes[key] = _build(settings)
    runtime.world.advance(utcnow())
    return runtime


def _build(settings) -> Runtime:
    """A world with the owned pool powered on and enabled and the classes running now, behind the
    in-process Scalelite (no port to hold open between invocations)."""
    from chalicelib.sim.direct import DirectBbb, DirectScalelite
    from chalicelib.sim.embedded import _seed_classes
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
    now = utcnow().replace(second=0, microsecond=0)
    _ = runtime.providers  # the static pool powers on and registers the owned servers
    world.advance(now)
    _seed_classes(world, now)
    return runtime
