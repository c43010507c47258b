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

import pytest

from tests.support.kill_guard import GuardFleet

START = "2026-11-30T06:58:30+00:00"  # 07:58:30 in Paris, a Monday of term: the 08:00 class start comes
SPEED = 10.0


@pytest.mark.xfail(
    strict=False,
    reason="issue 19, open: in about 1 run of 4 on a busy machine the guard holds its lease and looks but "
    "never cordons the herded server (no history line); not yet explained",
)
def test_a_guard_killed_mid_burst_leaves_no_cordon_older_than_two_minutes(tmp_path):
    fleet = GuardFleet(tmp_path, START, SPEED)
    try:
        found = fleet.kill_mid_burst()
    finally:
        fleet.stop_all()
    assert found["cordoned"], fleet.guard_lines()[-5:]
    # the other guard takes over within the lease (30 s), a standby (5 s) and room for a busy machine
    assert found["takeover_s"] is not None and found["takeover_s"] < 30 + 5 + 60, found
    # the cordon expires 2 minutes after the last guard's last renewal; the next tick enables it
    assert found["released_s"] is not None and found["released_s"] <= 120 + 60, found
    assert found["state_after"] == "enabled" and "cordon expired" in (found["released_line"] or ""), found
    print(f"guard takeover {found['takeover_s']:.0f} s, cordon released {found['released_s']:.0f} s after")
