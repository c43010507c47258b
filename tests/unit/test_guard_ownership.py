"""The burst guard against what it meets on a real fleet (issue 19): an operator's disable survives it,
its cordons expire when no live guard renews them (the capacity check enables them), a look that
raises is survived and reported, between bursts it lets its cordons go, and the capacity check never
drains the fleet below what Scalelite can place on."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chalicelib.domain.decision import Observation
from chalicelib.domain.fleet import Fleet
from chalicelib.domain.fleet import ServerState as S
from chalicelib.domain.load import LoadSnapshot, Meeting
from chalicelib.domain.planner import decide
from chalicelib.ports import ScaleliteServer
from chalicelib.service.commands import describe_status
from chalicelib.service.digest import digest
from chalicelib.service.guard import burst_guard
from tests.support.builders import T0, server, settings
from tests.unit.test_guard_service import _fleet, _name


def _herd(world, target, now, n=12):
    for i in range(n):
        world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=target.url[6:])


def test_an_operators_disable_survives_the_guard():
    # Issue 19 item 3: a server an operator disabled for maintenance was re-enabled 8 s later.
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        spare = _name(world, "-owned-4")
        rt.scalelite.set_state(spare.id, "disable")  # the operator, through Scalelite's API
        guard = burst_guard(rt.ports(), rt.memory)
        for second in range(0, 60, 2):
            guard.check(now + timedelta(seconds=second))
        assert world.scalelite_server(spare.id).state == "disabled"
        # ... even one the guard had cordoned itself, once the operator disabled it with rooms on it
        target = _name(world, "-owned-1")
        _herd(world, target, now + timedelta(seconds=60))
        world.poll(now + timedelta(seconds=60))  # Scalelite's load moves (here by its poll)
        guard.check(now + timedelta(seconds=61))
        assert world.scalelite_server(target.id).state == "cordoned"
        rt.scalelite.set_state(target.id, "disable")
        for name in [m for m in world.meetings if m.startswith("class-")]:
            world.end_meeting(name)
        for second in range(63, 120, 2):
            guard.check(now + timedelta(seconds=second))
        assert world.scalelite_server(target.id).state == "disabled"
        assert target.id not in rt.store.guard_ledger.cordons()
        assert any("by someone else" in e.summary for e in rt.store.history.recent(20, kind="guard"))
    finally:
        cm.__exit__(None, None, None)


def test_a_dead_guards_cordons_are_released_by_the_tick_once_expired():
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        target = _name(world, "-owned-2")
        _herd(world, target, now)
        burst_guard(rt.ports(), rt.memory).check(now)  # ... and the guard dies: no look renews the cordon
        assert world.scalelite_server(target.id).state == "cordoned"
        clock.set(now + timedelta(seconds=60))
        rt.tick(now=clock())  # unexpired: held, counted as serving
        assert world.scalelite_server(target.id).state == "cordoned"
        record = next(s for s in rt.store.servers.servers() if s.url == target.url)
        assert record.state == S.SERVING
        clock.set(now + timedelta(seconds=125))
        result = rt.tick(now=clock())
        assert world.scalelite_server(target.id).state == "enabled"
        assert rt.store.guard_ledger.cordons() == {}
        assert any("cordon expired" in line for line in digest(result).guard)
        record = next(s for s in rt.store.servers.servers() if s.url == target.url)
        assert record.state == S.SERVING
    finally:
        cm.__exit__(None, None, None)


class Exploding:
    """A BBB-servers port whose reads raise what no adapter should (a bug, a bad room)."""

    def __init__(self, inner):
        self.inner, self.armed = inner, True

    def server(self, url, secret, name):
        if self.armed:
            raise ValueError("year 33658 is out of range")
        return self.inner.server(url, secret, name)

    def poll(self, servers):
        return self.inner.poll(servers)


def test_a_look_that_raises_is_skipped_counted_reported_and_the_guard_goes_on():
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        target = _name(world, "-owned-1")
        _herd(world, target, now)
        bbb = Exploding(rt.ports().bbb)
        guard = burst_guard(replace(rt.ports(), bbb=bbb), rt.memory)
        assert guard.check(now) == [] and guard.failures == 1
        assert guard.next_check(now) == now + timedelta(seconds=guard.settings.interval_seconds)
        status = rt.status()
        assert status["guard"]["failed_looks"] == 1 and "year 33658" in status["guard"]["last_failure"]
        assert "1 look(s) failed and were skipped" in describe_status(status)
        bbb.armed = False
        assert [c["action"] for c in guard.check(now + timedelta(seconds=2))] == ["cordon"]
        result = rt.tick(now=now + timedelta(seconds=30))
        assert any("a look failed and was skipped" in line for line in digest(result).guard)
        # a room whose createTime is absurd (10^15 ms) is a room of no known age, not a crash
        world.meetings["class-0"].create_time_ms = 10**15
        guard.check(now + timedelta(seconds=40))
        assert guard.failures == 1
    finally:
        cm.__exit__(None, None, None)


def test_between_bursts_the_guard_lets_its_cordons_go_when_scalelite_needs_them():
    # Issue 19 item 7: a server held at 80 % between class windows while nothing else can take a room.
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        target = _name(world, "-owned-3")
        for i in range(7):  # 7 classes of 30: 82 %
            world.create_meeting(f"class-{i}", now, participants=29, moderators=1, server=target.url[6:])
        guard = burst_guard(rt.ports(), rt.memory)
        guard.check(now)
        assert world.scalelite_server(target.id).state == "cordoned"
        later = now + timedelta(minutes=20)  # the class window is over; the others have room: held
        assert guard.check(later) == [] and world.scalelite_server(target.id).state == "cordoned"
        for other in world.scalelite_servers():
            if other.id != target.id:
                rt.scalelite.set_state(other.id, "disable")  # operators take every other one away
        changes = guard.check(later + timedelta(seconds=10))
        assert [c["action"] for c in changes] == ["enable"] and "placeable" in changes[0]["reason"]
        assert world.scalelite_server(target.id).state == "enabled"
    finally:
        cm.__exit__(None, None, None)


def test_the_tick_never_drains_the_fleet_below_what_scalelite_can_place_on():
    # Issue 19 item 7: two owned servers held cordoned by the guard (counted as serving), two hourly
    # servers idle: the tick wanted both hourly ones gone as surplus ("desired 0 < active").
    cfg = settings(lifecycle={"stabilization_minutes": 0}, forecast={"enabled": False})
    fleet = [
        server("t-owned-1", "owned", url="https://o1/bigbluebutton/api"),
        server("t-owned-2", "owned", url="https://o2/bigbluebutton/api"),
        server("t-cheap-1", "cheap", url="https://c1/bigbluebutton/api"),
        server("t-cheap-2", "cheap", url="https://c2/bigbluebutton/api"),
    ]

    def listed(url, state):
        return ScaleliteServer(url, url, "s", state, True, 10.0)

    as_serving = {s.url: listed(s.url, "enabled") for s in fleet}  # the guard's cordons count as serving
    obs = Observation(
        now=T0,
        fleet=Fleet(tuple(fleet)),
        snapshot=LoadSnapshot((Meeting("m", participants=400),), complete=True),
        scalelite=as_serving,
        placeable=frozenset({"https://c1/bigbluebutton/api", "https://c2/bigbluebutton/api"}),
    )
    actions = decide(obs, cfg).actions
    assert len([a for a in actions if a.action == "cordon"]) == 1  # one hourly server goes ...
    (held,) = [a for a in actions if a.action == "hold" and a.server in ("t-cheap-1", "t-cheap-2")]
    assert "the last server Scalelite can place rooms on" in held.reason  # ... the last one stays
    # with every server placeable, the surplus goes as before
    free = replace(obs, placeable=frozenset(as_serving))
    assert [a.server for a in decide(free, cfg).actions if a.action == "cordon"]


def test_a_held_servers_rooms_are_re_read_though_scalelite_froze_its_load():
    # Issue 19 item 5: getServers shows a cordoned server's load as of its last poll; only its own
    # getMeetings shows its rooms change. Here they end: the guard must see it has room again.
    cm, rt, world, clock = _fleet()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        target = _name(world, "-owned-2")
        _herd(world, target, now)
        guard = burst_guard(rt.ports(), rt.memory)
        guard.check(now)
        assert world.scalelite_server(target.id).state == "cordoned"
        # a look before a round in flight at the cordon could have ended: nothing to do (later, the
        # guard would repair it blind, no other server's save being visible: test_guard_polls.py)
        assert guard.check(now + timedelta(seconds=0.3)) == []
        frozen = world.scalelite_server(target.id).load
        for name in [m for m in world.meetings if m.startswith("class-")][:9]:
            world.end_meeting(name)
        assert world.scalelite_server(target.id).load == frozen  # Scalelite shows nothing
        changes = guard.check(now + timedelta(seconds=guard.settings.hold_seconds + 1))
        assert [(c["action"], c["server"]) for c in changes] == [("enable", "bbbscale-t-owned-2")]
    finally:
        cm.__exit__(None, None, None)
