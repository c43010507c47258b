"""A drain's cordon that Scalelite's poller silently undid is found and sent again (issue 19, item 1,
for the tick's own cordons).

On Scalelite v1.6.1 a cordon sent while a poll round is in flight is undone: the round re-adds the
server to the placement set with the load it computed, getServers keeps saying `cordoned`, and sending
cordon again changes nothing; enable then cordon does (tests/real_scalelite/test_scenarios.py runs
that on the model and on the real Scalelite). The burst guard repairs its own cordons; the tick's drain
cordons were never repaired: on the generated week at scale 1.6, hired servers meant to be drained
stayed placeable for up to 1 h 55 min (32,750 server-seconds in the week), taking classes. The tick
now reads, in each draining server's own getMeetings, the creation time of its newest room: one
created more than a minute after the drain began is the evidence.
"""

from __future__ import annotations

import random
from datetime import timedelta

from chalicelib.domain.fleet import ServerState
from chalicelib.domain.kinds import Outcome
from tests.support.builders import T0
from tests.support.faults import Faults, faulty_fleet, tick
from tests.unit.test_never_twice import small_settings

CHEAP = ("bbbscale-p-cheap-1", "bbbscale-p-cheap-2")


def _at(fleet, now):
    fleet.clock.set(now)
    fleet.world.advance(now)
    return now


def _placeable(world) -> set[str]:
    return {e.url.rsplit("/", 1)[-1] for sid, e in world.registry.items() if sid in world.server_load}


def test_a_drain_cordon_a_poll_round_undid_is_sent_again_and_holds():
    fleet = faulty_fleet(small_settings(), T0, Faults(random.Random(0)))
    world = fleet.world
    for i in range(24):  # classes beyond the owned pool's 600 units: two hired servers start
        world.create_meeting(
            f"class-{i}", T0, participants=25, moderators=1, voice=5, listen_only=20, video=1
        )
    for minute in range(12):
        tick(fleet, _at(fleet, T0 + timedelta(minutes=minute)))
    now = T0 + timedelta(minutes=11)
    for i in range(4):  # small rooms on the hired servers, then the classes end: they are surplus
        assert world.create_meeting(f"pair-{i}", now, participants=2, moderators=1) in CHEAP
    for i in range(24):
        world.end_meeting(f"class-{i}")
    for minute in range(12, 20):
        now = _at(fleet, T0 + timedelta(minutes=minute))
        for i in range(4):
            world.join_meeting(f"pair-{i}")  # Scalelite's load moves: the round below recounts it
        world.begin_round(now)  # the drain's cordons are sent while a poll round is in flight
        done = tick(fleet, now)
        world.finish_round()
        if any(a.action.action == "cordon" for a in done.actions):
            break
    records = {s.name: s for s in fleet.store.servers.servers()}
    assert all(records[n].state == ServerState.DRAINING for n in CHEAP)
    undone = {e.url.rsplit("/", 1)[-1]: e.state for e in world.registry.values()}
    assert all(undone[n] == "cordoned" for n in CHEAP) and set(CHEAP) <= _placeable(world)  # undone

    later = _at(fleet, now + timedelta(minutes=2))
    for i in range(12):  # the owned servers take these; the next poll counts them
        world.create_meeting(f"late-{i}", later, participants=2, moderators=1)
    later = _at(fleet, later + timedelta(minutes=1))
    assert not [a for a in tick(fleet, later).actions if a.action.action == "recordon"]  # no evidence yet
    for i in range(12):  # now the drained servers are Scalelite's lowest: the rooms go to them
        world.create_meeting(f"next-{i}", later, participants=2, moderators=1)
    landed = {world.meetings[f"next-{i}"].server for i in range(12)}
    assert landed & set(CHEAP), landed

    repair = tick(fleet, _at(fleet, later + timedelta(minutes=2)))
    again = {a.action.server: a for a in repair.actions if a.action.action == "recordon"}
    assert set(again) == set(CHEAP)
    for a in again.values():
        assert a.outcome == Outcome.DONE
        assert (
            "after it was cordoned for its drain, though Scalelite still reports it cordoned"
            in a.action.reason
        )
    assert not _placeable(world) & set(CHEAP)
    final = _at(fleet, later + timedelta(minutes=3))
    for i in range(12):
        world.create_meeting(f"final-{i}", final, participants=2, moderators=1)
    assert not {world.meetings[f"final-{i}"].server for i in range(12)} & set(CHEAP)
    assert not [a for a in tick(fleet, final).actions if a.action.action == "recordon"]  # dated anew: once
