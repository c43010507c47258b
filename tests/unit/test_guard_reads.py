"""What the burst guard reads of a server between looks (chalicelib/service/guard_reads.py), on the
in-process simulated fleet behind the Scalelite model: how far an enabled server's reported load rose past
what its rooms' creates and joins explain, the evidence of a poll round's save where nothing ended."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.service.guard import burst_guard
from chalicelib.service.guard_polls import SAVE_RISE
from tests.unit.test_guard_service import _fleet, _name


def test_joins_the_rooms_show_before_getservers_does_are_no_save_but_a_polls_young_rooms_are():
    cm, rt, world, clock = _fleet()
    try:
        reads = burst_guard(rt.ports(), rt.memory).reads
        now = clock()
        target = _name(world, "-owned-1")
        node = target.url[6:]

        def listed():
            return [s for s in rt.scalelite.servers() if s.id == target.id]

        world.create_meeting("class-0", now, participants=6, moderators=1, server=node)
        world.count_join(node, 7)  # the create and its joins, as Scalelite counted them
        reads.reread(now, listed())
        assert target.id not in reads.unexplained  # nothing to compare with yet
        # a look reads getServers, then 8 pupils join before it reads the rooms
        seen = listed()
        world.resize_meeting("class-0", participants=14)
        world.count_join(node, 8)
        reads.reread(now + timedelta(seconds=0.4), seen)
        assert reads.unexplained[target.id] == -8  # the rooms are ahead of the load
        reads.reread(now + timedelta(seconds=0.8), listed())
        assert reads.unexplained[target.id] == 0  # the load caught up: no save
        # a new room (its create and teacher's join: +2), then Scalelite's poll saves the server: the
        # poller counts each young room as 15 users at least
        world.create_meeting("class-1", now, participants=1, moderators=1, server=node)
        world.count_join(node, 2)
        reads.reread(now + timedelta(seconds=1.2), listed())
        assert reads.unexplained[target.id] == 0
        world.poll(now + timedelta(seconds=1.5))
        reads.reread(now + timedelta(seconds=1.6), listed())
        assert reads.unexplained[target.id] >= SAVE_RISE
    finally:
        cm.__exit__(None, None, None)
