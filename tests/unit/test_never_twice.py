"""Safety properties of the tick under faults, on a small in-process simulated fleet (issue 3).

- never stop or destroy a server with meetings: checked on the world at the moment of the provider call,
  and no meeting ends but by its own end;
- never act twice: no VM name sent to create twice, Scalelite never holding one URL twice, at most one
  of two simultaneous ticks taking the lease, no decision key carried out twice;
- a tick killed between ANY two steps (each provider call, Scalelite call and record save, on either
  side) is recovered by the next ticks: nothing orphaned, nothing stuck half-way.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import timedelta

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib.config import Settings
from chalicelib.domain.fleet import RUNNING, ServerState
from chalicelib.domain.kinds import Outcome
from tests.support.builders import T0
from tests.support.faults import Faults, faulty_fleet, tick, ticks_at_once

FAULT_MINUTES, RECOVERY_MINUTES = 46, 24
HOSTERS = ("cheap", "dear")
DONE = (Outcome.DONE, Outcome.PARTIAL)


def small_settings(api_failure_rate=0.0, api_timeout_rate=0.0, never_healthy_rate=0.0, seed=0) -> Settings:
    """Owned 2 (static), cheap (per-minute billing) and dear (per-second), boot 2 min: stops come soon."""
    options = {
        "api_failure_rate": api_failure_rate,
        "api_timeout_rate": api_timeout_rate,
        "never_healthy_rate": never_healthy_rate,
    }
    hoster = {
        "kind": "simulated",
        "capacity_units": 300,
        "max_surge": 3,
        "boot_minutes": 2,
        "max_provision_minutes": 6,
        "priority": 10,
    }
    return Settings.model_validate(
        {
            "cluster": "p",
            "forecast": {"enabled": False},
            "headroom": {"percent": 0, "units": 0},
            "lifecycle": {"stabilization_minutes": 2, "lease_seconds": 120},
            "providers": {
                "owned": {
                    "kind": "simulated",
                    "mode": "static",
                    "min_servers": 2,
                    "max_servers": 2,
                    "quota": 2,
                    "priority": 0,
                    "capacity_units": 300,
                },
                "cheap": {
                    **hoster,
                    "hourly_cost": 0.3,
                    "quota": 4,
                    "max_servers": 4,
                    "billing": "minute",
                    "options": {**options, "seed": seed},
                },
                "dear": {
                    **hoster,
                    "hourly_cost": 0.5,
                    "quota": 4,
                    "max_servers": 4,
                    "billing": "second",
                    "options": {**options, "seed": seed + 1},
                },
            },
        }
    )


def classes(world, minute: int, now) -> None:
    """Two waves of rooms (~38 units each); a few of the second wave run long, so drains must wait."""
    room = dict(participants=25, moderators=1, voice=5, listen_only=20, video=1)
    if minute in (3, 12):
        for i in range(22):
            world.create_meeting(f"w{minute}-{i}", now, **room)
    ends = {
        20: [f"w3-{i}" for i in range(22)],
        28: [f"w12-{i}" for i in range(18)],
        40: [f"w12-{i}" for i in range(18, 22)],
    }
    for meeting_id in ends.get(minute, []):
        world.end_meeting(meeting_id)


def run(settings, faults: Faults, storm=lambda minute, fleet: None, together=frozenset(), load=classes):
    """The small day: faults for FAULT_MINUTES, then none for RECOVERY_MINUTES. Returns the fleet, the
    tick results, and the Scalelite URLs found registered twice after any tick."""
    fleet = faulty_fleet(settings, T0, faults)
    results, doubles = [], []
    for minute in range(FAULT_MINUTES + RECOVERY_MINUTES):
        now = T0 + timedelta(minutes=minute)
        if minute == FAULT_MINUTES:
            faults.active = False
            for cloud in fleet.clouds.values():
                cloud.options = cloud.options.model_copy(
                    update={"api_failure_rate": 0, "api_timeout_rate": 0}
                )
        fleet.clock.set(now)
        load(fleet.world, minute, now)
        storm(minute, fleet)
        fleet.world.advance(now)
        if minute in together and faults.active:
            results += [r for r in ticks_at_once(fleet, now) if r is not None]
        else:
            result = tick(fleet, now)
            results += [result] if result is not None else []
        urls = Counter(e.url for e in fleet.world.scalelite_servers())
        doubles += [u for u, n in urls.items() if n > 1]
    return fleet, results, doubles


def assert_safe_and_recovered(fleet, results, doubles):
    assert fleet.world.killed_meetings == []
    assert fleet.ledger.violations == []
    assert [n for n, c in Counter(fleet.ledger.created).items() if c > 1] == []
    assert doubles == []
    keys = [
        f"{r.at.isoformat()}:{a.action.action}:{a.action.server or a.action.provider}"
        for r in results
        for a in r.actions
        if a.outcome in DONE
    ]
    assert [k for k, c in Counter(keys).items() if c > 1] == []
    lease = fleet.store.lease.acquired
    assert all(sum(got for at2, got in lease if at2 == at) <= 1 for at, _ in lease)
    # Recovered: the classes are over, the hosters are empty, nothing half-way, nothing unknown.
    records = {s.name: s for s in fleet.store.servers.servers()}
    for name in HOSTERS:
        assert [vm.name for vm in fleet.clouds[name].list()] == []
    assert [
        (s.name, s.state.value, s.reason)
        for s in records.values()
        if s.provider in HOSTERS and s.state in RUNNING
    ] == []
    known = {s.url for s in records.values() if s.state in RUNNING}
    assert [e.url for e in fleet.world.scalelite_servers() if e.url not in known] == []


def test_the_small_day_uses_the_hosters_and_stops_them_without_faults():
    fleet, results, doubles = run(small_settings(), Faults(random.Random(0)))
    assert max(r.desired["cheap"] for r in results) >= 2
    assert len(fleet.ledger.stopped) >= 2
    assert_safe_and_recovered(fleet, results, doubles)


def _step_kind(where: str) -> str:
    return re.sub(r"bbbscale-p-\w+-\d+", "SERVER", where)


def test_a_tick_killed_between_any_two_steps_is_recovered():
    reference = Faults(random.Random(0))
    run(small_settings(), reference)
    first = {}
    for index, where in enumerate(reference.points):
        first.setdefault(_step_kind(where), index)
    assert len(first) >= 20, sorted(first)  # every kind of step of a scale-up and a scale-down
    for kind, index in sorted(first.items(), key=lambda item: item[1]):
        faults = Faults(random.Random(0), kill_at=index)
        fleet, results, doubles = run(small_settings(), faults)
        assert faults.killed_ticks == 1, kind
        try:
            assert_safe_and_recovered(fleet, results, doubles)
        except AssertionError as error:
            raise AssertionError(f"killed at {kind!r}: {error}") from None


def test_a_cordon_whose_record_was_lost_is_undone_when_the_load_returns():
    def classes_again(world, minute, now):  # a third wave right after the scale-down began
        classes(world, minute, now)
        if minute == 23:
            for i in range(22):
                world.create_meeting(
                    f"w23-{i}", now, participants=25, moderators=1, voice=5, listen_only=20, video=1
                )

    reference = Faults(random.Random(0))
    run(small_settings(), reference, load=classes_again)
    cordon = next(
        i for i, where in enumerate(reference.points) if where == "Scalelite: after updateServer cordon"
    )
    seen = {}

    def look(minute, fleet):  # before each tick: what the ticks so far left
        enabled = {e.url for e in fleet.world.scalelite_servers() if e.state == "enabled"}
        serving = [
            s.url
            for s in fleet.store.servers.servers()
            if s.provider == "cheap" and s.state == ServerState.SERVING
        ]
        seen[minute] = (len(serving), sum(url in enabled for url in serving))

    fleet, results, _ = run(
        small_settings(), Faults(random.Random(0), kill_at=cordon), look, load=classes_again
    )
    assert next(r for r in results if r.at.isoformat().endswith("09:27:00+00:00")).desired["cheap"] == 4
    assert seen[28] == (4, 4)  # what the store calls serving, Scalelite enables: all four take meetings
    assert fleet.world.killed_meetings == []


@st.composite
def storms(draw):
    minutes = st.integers(0, FAULT_MINUTES - 1)
    return {
        "settings": dict(
            api_failure_rate=draw(st.sampled_from([0.0, 0.2, 0.4])),
            api_timeout_rate=draw(st.sampled_from([0.0, 0.1, 0.3])),
            never_healthy_rate=draw(st.sampled_from([0.0, 0.25])),
            seed=draw(st.integers(0, 999)),
        ),
        "kill_rate": draw(st.sampled_from([0.0, 0.03, 0.1])),
        "flaky": draw(st.sampled_from([0.0, 0.1, 0.3])),
        "down": draw(st.frozensets(minutes, max_size=8)),
        "internal_error": draw(st.frozensets(minutes, max_size=8)),
        "offline": draw(st.frozensets(minutes, max_size=4)),
        "together": draw(st.frozensets(minutes, max_size=4)),
        "seed": draw(st.integers(0, 999)),
    }


@hsettings(max_examples=30, deadline=None)
@given(storms())
def test_under_any_fault_schedule_no_class_is_cut_and_nothing_is_done_twice(plan):
    faults = Faults(
        random.Random(plan["seed"]), kill_rate=plan["kill_rate"], scalelite_flaky_rate=plan["flaky"]
    )
    offline: dict[str, int] = {}

    def storm(minute, fleet):
        faults.scalelite_down = minute in plan["down"]
        faults.scalelite_internal_error = minute in plan["internal_error"]
        for name, back in list(offline.items()):
            if minute >= back or not faults.active:
                if fleet.world.node(name) is not None:
                    fleet.world.set_fault(name, offline=False)
                del offline[name]
        if minute in plan["offline"] and faults.active:
            # Only empty servers: Scalelite itself ends the meetings of a server that stays offline.
            empty = sorted(
                n
                for n in fleet.world.nodes
                if n.startswith("bbbscale-p-")
                and "-owned-" not in n
                and not fleet.world.meetings_of(n)
                and n not in offline
            )
            if empty:
                name = empty[minute % len(empty)]
                fleet.world.set_fault(name, offline=True)
                offline[name] = minute + 4

    fleet, results, doubles = run(small_settings(**plan["settings"]), faults, storm, plan["together"])
    assert_safe_and_recovered(fleet, results, doubles)
