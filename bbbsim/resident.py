"""The simulated fleet of a long-lived process: what the Lambda handlers tick when the configuration is
the embedded default (`chalice local --stage local`, `chalice.test.Client(app, stage_name="local")`).

`bbbscale tick` builds a fresh world for its one tick; a process that serves requests and scheduled
checks keeps one world instead, on the wall clock, so a server started by one check is still booting at
the next and a chat `status` shows it, and the generated school day's classes start and end on time. The
state store is the configuration's own (the local stage's SQLite file): reservations, floors and freezes
set over HTTP are what the next check reads. A restarted process starts a new world; the stored servers
it no longer has are reconciled like any vanished VM.
"""

from __future__ import annotations

import threading
from datetime import datetime

from bbbsim.embedded import SimulatedFleet, build_fleet, follow_school_day
from chalicelib.bootstrap import utcnow

_fleets: dict[str, SimulatedFleet] = {}
_lock = threading.Lock()


def resident_fleet(settings, now: datetime | None = None) -> SimulatedFleet:
    """The process's simulated fleet for these settings, its world advanced to `now` (default: the wall
    clock), with the classes of the generated school day that are running then. In process (no port to
    hold open between invocations), on the configuration's own state store."""
    now = now or utcnow()
    key = settings.model_dump_json()
    with _lock:
        fleet = _fleets.get(key)
        if fleet is None:
            fleet = _fleets[key] = build_fleet(settings, now, http=False, clock=utcnow, advance=False)
        follow_school_day(fleet.world, now)
    fleet.world.advance(now)
    return fleet
