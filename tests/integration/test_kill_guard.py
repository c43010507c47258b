"""A burst guard killed mid-burst (SIGKILL of `bbbscale run`, real processes on one SQLite file) leaves
nothing cordoned for long (issue 19).

Two `run` processes share the simulated fleet; only the one holding the guard lease looks. A burst is
herded onto one server; the guard cordons it. Killing the guard's process hands the lease to the other
process's guard within the lease (30 s) and a standby; killing that one too leaves no guard at all, and
then the cordon expires: the next tick of another process (`bbbscale tick`) enables it again, no later
than the cordon's expiry (2 minutes after the last guard's last look renewed it) and that tick.

Times are on the processes' shared clock, 10 times faster than real time; a busy machine slows real
processes, which the clock then counts tenfold: the bounds leave room for that.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from tests.support.kill_guard import GuardFleet

START = "2026-11-30T06:58:30+00:00"  # 07:58:30 in Paris, a Monday of term: the 08:00 class start comes
SPEED = 10.0


def wait_for(what, seconds: float, step: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(step)
    return None


def test_a_guard_killed_mid_burst_leaves_no_cordon_older_than_two_minutes(tmp_path):
    fleet = GuardFleet(tmp_path, START, SPEED)
    try:
        for _ in range(2):
            fleet.spawn()
        assert wait_for(lambda: fleet.acting_ticks() >= 1 and fleet.guard_holder(), 60), (
            "no guard took the lease"
        )
        holder = fleet.guard_holder()
        assert holder is not None
        other = next(p for p in fleet.live if p is not holder)

        server = fleet.herd(60, fleet.now())  # a burst herded onto one server between two polls
        cordon = wait_for(lambda: fleet.cordons().get(server), 60)
        assert cordon and not cordon.get("released"), fleet.guard_lines()[-5:]

        # the guard's process dies mid-burst: the other process's guard takes the lease over
        killed = fleet.now()
        fleet.kill(holder)
        assert wait_for(lambda: fleet.guard_holder() is other, 60), fleet.guard_owner()
        takeover = (fleet.now() - killed).total_seconds()
        assert takeover < 30 + 5 + 60, f"took over after {takeover:.0f} s"  # lease, standby, slowness

        # ... and that one dies too: no guard is left to renew the cordon
        dead = fleet.now()
        fleet.kill(other)
        released = None
        while released is None and fleet.now() < dead + timedelta(minutes=6):
            fleet.tick()  # another process ticks (and holds no guard)
            released = next(
                (
                    at
                    for at, line in fleet.guard_lines()
                    if "cordon expired" in line and at >= dead.isoformat()
                ),
                None,
            )
        assert released is not None, fleet.guard_lines()[-5:]
        late = (datetime.fromisoformat(released) - dead).total_seconds()
        assert late <= 120 + 60, f"released {late:.0f} s after the last guard died"
        assert fleet.cordons().get(server) is None
        assert fleet.scalelite_state(server) == "enabled"
        print(f"guard takeover {takeover:.0f} s, cordon released {late:.0f} s after the last guard died")
    finally:
        fleet.stop_all()
