"""The burst guard's loop on the in-process simulated fleet behind the Scalelite model: it cordons the
server a burst herds onto, only ever through updateServer state, records why, is never taken for a
drain, re-checks after Scalelite's polls, and enables its own cordons again (even when the poller
disabled them) — never a server being drained."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bbbsim.embedded import sim_runtime
from chalicelib.domain.fleet import ServerState as S
from chalicelib.service.commands import describe_status
from chalicelib.service.digest import digest
from chalicelib.service.guard import burst_guard
from chalicelib.service.room_memory import GuardMemory, room_sizes
from tests.support.builders import T0, settings

# T0 is a Monday 09:00 UTC (10:00 Paris); T0 + 1 h is the 11:00 class start of the default timetable.
CFG = settings(
    headroom={"percent": 0, "units": 1500},
    forecast={"enabled": False},
    guard={"burst_interval_seconds": 1, "interval_seconds": 5},
)


class Recording:
    """Scalelite port wrapper that keeps every call the guard makes."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if callable(attr) and name not in ("servers", "meetings"):

            def recorded(*args, **kwargs):
                self.calls.append((name, args))
                return attr(*args, **kwargs)

            return recorded
        return attr


def _fleet():
    """A runtime with the owned 4 and one cheap server serving, all polled; the clock at T0 + 9 min."""
    cm = sim_runtime(CFG, T0, http=False)
    rt, world, clock = cm.__enter__()
    for minute in range(1, 10):
        clock.set(T0 + timedelta(minutes=minute))
        world.advance(clock())
        rt.tick(now=clock())
    return cm, rt, world, clock


def _name(world, url_part):
    return next(e for e in world.scalelite_servers() if url_part in e.url)


def test_a_herded_server_is_cordoned_with_its_reason_and_nothing_else_is_touched():
    cm, rt, world, clock = _fleet()
    try:
        recording = Recording(rt.scalelite)
        ports = replace(rt.ports(), scalelite=recording)
        guard = burst_guard(ports, GuardMemory(room_sizes=room_sizes(rt.memory, rt.store, rt.settings)))
        now = T0 + timedelta(hours=1, seconds=5)  # 11:00:05 Paris: the 11:00 slot's window
        target = _name(world, "-owned-1")
        for i in range(12):  # Scalelite put twelve fresh classes of 30 on one server (herding)
            world.create_meeting(
                f"class-{i}", now, participants=30, moderators=1, voice=8, server=target.url[6:]
            )
        changes = guard.check(now)
        assert [(c["action"], c["server"]) for c in changes] == [("cordon", "bbbscale-t-owned-1")]
        assert "past" in changes[0]["reason"]
        assert world.scalelite_server(target.id).state == "cordoned"
        assert {name for name, _ in recording.calls} == {"set_state"}  # never end, delete or panic
        assert world.killed_meetings == [] and len(world.meetings) == 12
        assert target.id in rt.store.guard_ledger.cordons()
        (entry,) = rt.store.history.recent(1, kind="guard")
        assert entry.summary.startswith("guard: cordon bbbscale-t-owned-1")
        # the next tick reports it (digest, chat) and `status` shows it
        result = rt.tick(now=now + timedelta(seconds=55))
        assert digest(result).guard and "cordon bbbscale-t-owned-1" in digest(result).guard[0]
        assert "holds bbbscale-t-owned-1 out of placement" in describe_status(rt.status())
    finally:
        cm.__exit__(None, None, None)


def test_a_guard_cordon_is_never_taken_for_a_drain_and_a_drained_server_is_never_enabled():
    cm, rt, world, clock = _fleet()
    try:
        cheap = next(s for s in rt.store.servers.servers() if s.provider == "cheap")
        entry = next(e for e in world.scalelite_servers() if e.url == cheap.url)
        now = T0 + timedelta(hours=1, seconds=5)
        for i in range(12):
            world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=cheap.name)
        burst_guard(rt.ports(), rt.memory).check(now)
        assert world.scalelite_server(entry.id).state == "cordoned"
        for minute in range(1, 4):  # ticks: the record stays serving, never draining, never stopped
            clock.set(now + timedelta(minutes=minute))
            world.advance(clock())
            burst_guard(rt.ports(), rt.memory).check(clock())  # a live guard renews its cordon
            rt.tick(now=clock())
            assert world.scalelite_server(entry.id).state == "cordoned"
        (record,) = [s for s in rt.store.servers.servers() if s.name == cheap.name]
        assert record.state == S.SERVING
        # Now the tick drains it (an operator's drain): the guard lets go and never enables it again.
        rt.store.servers.save(record.moved(S.DRAINING, clock(), "drain requested"))
        for name in list(world.meetings):
            world.end_meeting(name)
        world.poll(clock())  # cordoned at load 0: the poller disables it
        assert world.scalelite_server(entry.id).state == "disabled"
        burst_guard(rt.ports(), rt.memory).check(clock() + timedelta(seconds=30))
        assert world.scalelite_server(entry.id).state == "disabled"
        assert entry.id not in rt.store.guard_ledger.cordons()
    finally:
        cm.__exit__(None, None, None)


def test_the_guard_enables_its_cordon_again_once_empty_even_after_the_poller_disabled_it():
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        target = _name(world, "-owned-2")
        for i in range(12):
            world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=target.url[6:])
        world.count_join("bbbscale-t-owned-1", users=5)  # joins Scalelite counted on another server
        burst_guard(rt.ports(), rt.memory).check(now)
        assert world.scalelite_server(target.id).state == "cordoned"
        for i in range(12):
            world.end_meeting(f"class-{i}")
        # load 0: disabled by the poller, in a round the guard sees (owned-1's load falls back)
        world.poll(now + timedelta(seconds=30))
        assert world.scalelite_server(target.id).state == "disabled"
        changes = burst_guard(rt.ports(), rt.memory).check(now + timedelta(seconds=40))
        assert [(c["action"], c["server"]) for c in changes] == [("enable", "bbbscale-t-owned-2")]
        assert world.scalelite_server(target.id).state == "enabled"
    finally:
        cm.__exit__(None, None, None)


def test_an_empty_guard_cordon_an_operator_disabled_is_left_disabled():
    # No poll round between the two looks: the disable is not the poller's. The operator's word wins.
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        target = _name(world, "-owned-2")
        for i in range(12):
            world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=target.url[6:])
        guard = burst_guard(rt.ports(), rt.memory)
        guard.check(now)
        for i in range(12):
            world.end_meeting(f"class-{i}")
        guard.check(now + timedelta(seconds=2))  # it sees the server empty
        rt.scalelite.set_state(target.id, "disable")  # the operator
        for second in range(4, 40, 2):
            guard.check(now + timedelta(seconds=second))
        assert world.scalelite_server(target.id).state == "disabled"
        assert target.id not in rt.store.guard_ledger.cordons()
    finally:
        cm.__exit__(None, None, None)


def test_a_cordon_a_poll_silently_undid_is_found_by_the_rooms_placed_after_it_and_repaired():
    """Scalelite v1.6.1: a cordon sent during a poll round stays reported `cordoned` while the round's
    save puts the server back in the placement set; rooms then land on it. The guard re-reads the
    servers it holds, sees rooms created after its cordon, and repairs it with enable then cordon."""
    cm, rt, world, clock = _fleet()
    try:
        recording = Recording(rt.scalelite)
        ports = replace(rt.ports(), scalelite=recording)
        guard = burst_guard(ports, GuardMemory(room_sizes=room_sizes(rt.memory, rt.store, rt.settings)))
        now = T0 + timedelta(hours=1, seconds=5)
        target = _name(world, "-owned-3")
        for i in range(12):
            world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=target.url[6:])
        assert [c["action"] for c in guard.check(now)] == ["cordon"]
        # held, nothing new on it (a look before a round in flight at the cordon could have ended)
        assert guard.check(now + timedelta(seconds=0.3)) == []
        # The undone cordon: Scalelite still reports it cordoned, yet placed two rooms on it.
        for i in range(2):
            world.create_meeting(
                f"late-{i}", now + timedelta(seconds=3), participants=1, server=target.url[6:]
            )
        assert world.scalelite_server(target.id).state == "cordoned"
        recording.calls.clear()
        changes = guard.check(now + timedelta(seconds=4))
        assert [(c["action"], c["server"]) for c in changes] == [("recordon", "bbbscale-t-owned-3")]
        assert "took 2 new rooms after the guard cordoned it" in changes[0]["reason"]
        assert "Scalelite's poll undid the cordon" in changes[0]["reason"]
        assert recording.calls == [("set_state", (target.id, "enable")), ("set_state", (target.id, "cordon"))]
        assert world.scalelite_server(target.id).state == "cordoned"
        assert guard.check(now + timedelta(seconds=6)) == []  # repaired once: those rooms are no news
    finally:
        cm.__exit__(None, None, None)


def test_a_server_someone_else_enabled_is_cordoned_afresh_never_claimed_undone_by_a_poll():
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        target = _name(world, "-owned-3")
        for i in range(12):
            world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=target.url[6:])
        burst_guard(rt.ports(), rt.memory).check(now)
        rt.scalelite.set_state(target.id, "enable")  # not the guard (an operator, a round writing back)
        changes = burst_guard(rt.ports(), rt.memory).check(now + timedelta(seconds=2))
        assert [c["action"] for c in changes] == ["cordon"]
        assert "again" not in changes[0]["reason"] and "poll" not in changes[0]["reason"]
    finally:
        cm.__exit__(None, None, None)


def test_a_cordon_a_round_in_flight_undid_is_repaired_before_any_room_lands_there():
    """Scalelite v1.6.1 `Server#save!` (app/models/server.rb): a round that read the server enabled does
    not write its state back; it re-adds the server to placement (`server_load`) with the load it
    computed while getServers keeps saying cordoned (its load frozen). `cordon` again writes nothing:
    only enable, then cordon, takes it out of placement. No room has landed there yet: the guard sees
    the round in getServers (another cordoned server's load moved) and the frozen load of this one."""
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        guard = burst_guard(rt.ports(), rt.memory)
        first, target = _name(world, "-owned-2"), _name(world, "-owned-3")
        for i in range(12):
            world.create_meeting(f"early-{i}", now, participants=30, moderators=1, server=first.url[6:])
        assert [c["server"] for c in guard.check(now)] == ["bbbscale-t-owned-2"]
        for i in range(12):
            world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=target.url[6:])
        world.count_join(target.url[6:])  # a join: Scalelite's load of it moves
        world.next_poll = now + timedelta(seconds=9)
        world.run_poller(now + timedelta(seconds=9))  # a round starts: it read the server enabled
        changes = guard.check(now + timedelta(seconds=9.05))
        assert [c["server"] for c in changes if c["action"] == "cordon"] == ["bbbscale-t-owned-3"]
        # owned-2's cordon, sent where no round could be seen, is repaired blind, once
        assert [(c["action"], c["server"]) for c in changes if c["action"] != "cordon"] == [
            ("recordon", "bbbscale-t-owned-2")
        ]
        saved = now + timedelta(seconds=9 + world.round_seconds)
        world.run_poller(saved)  # ... and saves its new load into placement
        assert world.scalelite_server(target.id).state == "cordoned"  # reported cordoned ...
        assert target.id in world.placement_set()  # ... yet placeable: the silent undo
        repaired = None
        for second in range(10, 14):
            for change in guard.check(now + timedelta(seconds=second)):
                repaired = repaired or (second, change)
        assert repaired is not None and repaired[1]["action"] == "recordon"
        assert (now + timedelta(seconds=repaired[0]) - saved).total_seconds() <= 3
        assert "may have undone" in repaired[1]["reason"] and "poll undid" not in repaired[1]["reason"]
        assert target.id not in world.placement_set()
        assert world.scalelite_server(target.id).state == "cordoned"
        assert target.id in rt.store.guard_ledger.cordons()
    finally:
        cm.__exit__(None, None, None)


def test_quiet_times_change_nothing():
    cm, rt, world, clock = _fleet()
    try:
        quiet = T0 + timedelta(hours=3, minutes=30)  # 13:30 Paris: no class start near
        assert burst_guard(rt.ports(), rt.memory).check(quiet) == []
        assert burst_guard(rt.ports(), rt.memory).next_check(quiet) == quiet + timedelta(minutes=1)
    finally:
        cm.__exit__(None, None, None)


def test_after_each_burst_the_spread_is_measured_and_reported_once():
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        for i in range(10):  # a burst herded onto two of the five servers
            world.create_meeting(
                f"class-{i}", now, participants=25, moderators=1, server=f"bbbscale-t-owned-{1 + i % 2}"
            )
        burst_guard(rt.ports(), rt.memory).check(now)
        burst_guard(rt.ports(), rt.memory).check(
            now + timedelta(minutes=16)
        )  # the window is over: how evenly did it land?
        result = rt.tick(now=now + timedelta(minutes=16, seconds=30))
        herding = result.herding
        assert herding["servers"] == 2 and herding["rooms_cv"] == 0.0 and herding["overloaded"] == 0
        assert rt.tick(now=now + timedelta(minutes=17, seconds=30)).herding is None  # once
        assert "Last burst" in describe_status(rt.status())
        assert any("after the burst" in e.summary for e in rt.store.history.recent(5, kind="guard"))
    finally:
        cm.__exit__(None, None, None)


def test_a_surge_outside_class_starts_is_seen_within_seconds_of_the_first_rise():
    cm, rt, world, clock = _fleet()
    try:
        quiet = T0 + timedelta(hours=3, minutes=30)  # 13:30 Paris: no class start near
        guard = burst_guard(rt.ports(), rt.memory)
        world.poll(quiet)
        assert guard.check(quiet) == [] and guard.next_check(quiet) == quiet + timedelta(minutes=1)
        world.poll(quiet + timedelta(seconds=30))  # a poll's jump alone is no surge

        def burst(at, n):
            for i in range(n):  # through Scalelite's placement: each create and join moves its load
                room = f"surge-{at.timestamp()}-{i}"
                world.create_meeting(room, at, participants=1, moderators=1)
                world.join_meeting(room, users=9)

        first = quiet + timedelta(minutes=1)
        burst(first, 30)  # 300 units of Scalelite load in a minute: a first rise
        guard.check(first)
        soon = first + timedelta(seconds=guard.settings.interval_seconds)
        assert guard.next_check(first) == soon  # look again soon, not in a minute
        burst(soon, 10)
        guard.check(soon)  # rising again: a surge, the guard is on for 15 minutes
        assert guard.in_window(first) is None and guard._active_until == soon + timedelta(minutes=15)
        assert guard.next_check(soon) <= soon + timedelta(seconds=guard.settings.interval_seconds)
    finally:
        cm.__exit__(None, None, None)


def test_around_a_class_start_rooms_that_ended_are_seen_though_scalelites_load_did_not_move():
    """A room that ends moves nothing getServers reports (the load is the poll's until the next poll),
    so a guard that re-reads only servers whose load moved keeps projecting the ended rooms and, at the
    next class start, cordons servers that are in fact empty. Around a class start it reads each
    server's rooms every `window_read_seconds` (5 s) whatever getServers says."""
    cm, rt, world, clock = _fleet()
    try:
        ports = rt.ports()
        guard = burst_guard(ports, GuardMemory(room_sizes=room_sizes(rt.memory, rt.store, rt.settings)))
        now = T0 + timedelta(hours=1, seconds=5)  # 11:00:05 Paris: the 11:00 slot's window
        target = _name(world, "-owned-2")
        for i in range(2):
            world.create_meeting(f"old-{i}", now, participants=10, moderators=1, server=target.url[6:])
        assert guard.check(now) == []  # below every limit: nothing to do
        assert len(guard.reads.by_id[target.id].rooms) == 2
        load_before = world.scalelite_server(target.id).load
        for i in range(2):
            assert world.end_meeting(f"old-{i}")
        assert world.scalelite_server(target.id).load == load_before  # Scalelite saw nothing
        guard.check(now + timedelta(seconds=1))
        assert len(guard.reads.by_id[target.id].rooms) == 2  # nothing moved yet: not read again
        guard.check(now + timedelta(seconds=6))
        assert guard.reads.by_id[target.id].rooms == []  # read again: the ended rooms are gone
    finally:
        cm.__exit__(None, None, None)


def test_a_look_longer_than_its_interval_is_followed_by_the_next_after_the_shortest_pause():
    """`BurstGuard.run` as `bbbscale run` and the Lambda run it: a look that outlasts its interval (the
    reads of a burst take ~0.33 s against 0.25 s) is followed by the next after `MIN_PAUSE_S`, the pause
    bench/real_scalelite_bursts.py measured with; a look that leaves time waits for its interval."""
    from chalicelib.service.guard import MIN_PAUSE_S

    cm, rt, world, clock = _fleet()
    try:
        guard = burst_guard(rt.ports(), GuardMemory(room_sizes=room_sizes(rt.memory, rt.store, rt.settings)))
        start = T0 + timedelta(hours=1, seconds=5)  # in the 11:00 class start's window
        now = [start]
        pauses: list[float] = []
        looks = {"n": 0}
        slow = guard.check

        def check(at):
            looks["n"] += 1
            done = slow(at)
            now[0] += timedelta(seconds=6 if looks["n"] == 1 else 0.01)  # the first look outlasts 5 s
            return done

        def pause(seconds):
            pauses.append(seconds)
            now[0] += timedelta(seconds=seconds)

        guard.check = check  # type: ignore[method-assign]
        guard.run(start + timedelta(seconds=8), pause, lambda: now[0])
        assert pauses[0] == MIN_PAUSE_S == 0.05
        assert pauses[1:] and min(pauses[1:]) > 0.3  # a quick look waits for its interval (0.5 s here)
    finally:
        cm.__exit__(None, None, None)
