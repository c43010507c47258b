"""An operator's change sent while a guard look is under way is never overwritten by the look's actions
(issue 19: the operator's disable did not survive the real-Scalelite bench). Scalelite's updateServer sets
a state whatever it replaces, so the guard reads the states again just before acting and leaves a
server changed since the look as it is, saying so. On the in-process simulated fleet; the same race over
HTTP against the model and the real Scalelite: tests/real_scalelite/test_guard_and_operator.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bbbsim.embedded import sim_runtime
from chalicelib.service.guard import burst_guard
from chalicelib.service.room_memory import GuardMemory, room_sizes
from tests.support.builders import T0, settings

CFG = settings(
    headroom={"percent": 0, "units": 1500},
    forecast={"enabled": False},
    guard={"burst_interval_seconds": 1, "interval_seconds": 5},
)


class Meanwhile:
    """Scalelite port wrapper: `after_read` runs once right after the next getServers (an operator's
    call landing while the look reads each server's rooms); every updateServer is kept in `sent`."""

    def __init__(self, inner):
        self.inner, self.sent, self.after_read = inner, [], None

    def servers(self):
        answer = self.inner.servers()
        action, self.after_read = self.after_read, None
        if action is not None:
            action()
        return answer

    def set_state(self, server_id, state):
        self.sent.append((server_id, state))
        return self.inner.set_state(server_id, state)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _guarded():
    cm = sim_runtime(CFG, T0, http=False)
    rt, world, clock = cm.__enter__()
    for minute in range(1, 10):
        clock.set(T0 + timedelta(minutes=minute))
        world.advance(clock())
        rt.tick(now=clock())
    port = Meanwhile(rt.scalelite)
    ports = replace(rt.ports(), scalelite=port)
    memory = GuardMemory(room_sizes=room_sizes(rt.memory, rt.store, rt.settings))
    target = next(e for e in world.scalelite_servers() if "-owned-3" in e.url)
    return cm, rt, world, port, burst_guard(ports, memory), target


def test_an_operators_disable_during_the_look_that_repairs_an_undone_cordon_survives():
    cm, rt, world, port, guard, target = _guarded()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        for i in range(12):
            world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=target.url[6:])
        assert [c["action"] for c in guard.check(now)] == ["cordon"]
        for i in range(2):  # a poll undid the cordon: rooms land on it, still reported cordoned
            world.create_meeting(
                f"late-{i}", now + timedelta(seconds=3), participants=1, server=target.url[6:]
            )
        port.after_read = lambda: rt.scalelite.set_state(target.id, "disable")  # the operator, meanwhile
        port.sent.clear()
        assert guard.check(now + timedelta(seconds=4)) == []  # the repair (enable then cordon) is not sent
        assert port.sent == []
        assert world.scalelite_server(target.id).state == "disabled"
        said = [e.summary for e in rt.store.history.recent(20, kind="guard")]
        assert any("recordon" in s and "not sent: Scalelite reports it disabled" in s for s in said), said
        for second in range(6, 30, 2):  # the next looks leave the operator's server alone
            guard.check(now + timedelta(seconds=second))
        assert port.sent == [] and world.scalelite_server(target.id).state == "disabled"
    finally:
        cm.__exit__(None, None, None)


def test_an_operators_cordon_during_the_look_is_not_turned_into_the_guards_own():
    # The look saw the herded server enabled and decides to cordon it; the operator cordons it first.
    # Sending the guard's cordon would change nothing in Scalelite, but the guard would then hold the
    # operator's cordon as its own and enable it later.
    cm, rt, world, port, guard, target = _guarded()
    try:
        now = T0 + timedelta(hours=1, seconds=5)
        for i in range(12):
            world.create_meeting(f"class-{i}", now, participants=30, moderators=1, server=target.url[6:])
        port.after_read = lambda: rt.scalelite.set_state(target.id, "cordon")
        assert guard.check(now) == []
        for i in range(12):
            world.end_meeting(f"class-{i}")
        for second in range(2, 30, 2):
            guard.check(now + timedelta(seconds=second))
        assert port.sent == [] and world.scalelite_server(target.id).state == "cordoned"
    finally:
        cm.__exit__(None, None, None)
