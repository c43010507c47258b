"""Real `bbbscale run` processes on one SQLite file, killed with SIGKILL at random and while holding the
lease (issue 14). The heavy variant (>= 100 kills) is bench/kill_run.py; this one kills eight.

Checked on the file afterwards: no VM created twice, no server registered twice in Scalelite, no VM
without a live record (orphan), no registration without a VM, no meeting ended by the scaler; and after
each kill of the lease holder, another process took over within a lease and a retry.
"""

from __future__ import annotations

from tests.support.kill_run import KillRun, invariants


def test_killed_run_processes_never_act_twice_orphan_or_end_a_meeting(tmp_path):
    fleet = KillRun(tmp_path, speed=20.0, processes=3, seed=14)
    fleet.run(kills=8, holder_every=4, settle_s=6.0, timeout_s=240)
    assert fleet.kills == 8 and fleet.holder_kills == 2

    found = invariants(fleet.path)
    assert found["double_creates"] == [] and found["double_registrations"] == []
    assert found["orphan_vms"] == [] and found["orphan_registrations"] == []
    assert found["killed_meetings"] == 0
    assert found["vms_created"] >= 1, "the fleet scaled up meanwhile"

    # Another process took over after each kill of the holder: one 60 s lease plus a retry (10 s), well
    # before the 300 s the old lease alone blocked. Real seconds times the clock's speed, so start-up and
    # ticks slowed by a busy machine count 20-fold here: the bound leaves room for that. At real speed
    # the takeover is measured by bench/kill_run.py (64-70 s, target 90 s).
    assert len(fleet.stalls) == fleet.holder_kills
    assert max(fleet.stalls) * fleet.speed < 150, fleet.stalls
