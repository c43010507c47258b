"""Regressions for the bugs the fault suite (tests/integration/test_fault_injection.py) found: each case is
the state a failed call or a killed tick left behind, and the rule that gets the fleet out of it."""

from datetime import timedelta

from bbbsim.embedded import sim_runtime
from chalicelib.domain.decision import ServerCheck
from chalicelib.domain.fleet import VM
from chalicelib.domain.fleet import ServerState as S
from chalicelib.domain.lifecycle import drain_verdict
from chalicelib.domain.planner import decide
from chalicelib.domain.reconcile import api_url, reconcile
from chalicelib.ports import ScaleliteServer
from tests.support.builders import T0, load_of, observation, owned, registered_for, server, settings

CFG = settings()
EMPTY = ServerCheck(healthy=True, meetings=0, recordings_pending=0)


def _entry(s, state="cordoned", load=0.0, online=True):
    return ScaleliteServer(id=s.scalelite_id, url=s.url, secret="x", state=state, online=online, load=load)


def _actions(decision, server_name):
    return [a.action for a in decision.actions if a.server == server_name]


def test_a_full_url_of_any_scheme_is_kept():
    assert api_url("sim://bbbscale-t-cheap-1") == "sim://bbbscale-t-cheap-1"
    assert (
        api_url("https://bbb1.example.org/bigbluebutton/api/") == "https://bbb1.example.org/bigbluebutton/api"
    )
    assert api_url("bbb1.example.org") == "https://bbb1.example.org/bigbluebutton/api"


def test_in_process_simulator_brings_a_started_server_online_in_scalelite():
    cfg = settings(headroom={"percent": 0, "units": 1500}, forecast={"enabled": False})  # owned 4 + cheap 1
    with sim_runtime(cfg, T0, http=False) as (rt, world, clock):
        for minute in range(1, 10):
            clock.set(T0 + timedelta(minutes=minute))
            world.advance(clock())
            rt.tick(now=clock())
        cheap = [e for e in world.scalelite_servers() if "-cheap-" in e.url]
        assert [(e.state, e.online) for e in cheap] == [("enabled", True)]
        assert [s.state for s in rt.store.servers.servers() if s.provider == "cheap"] == [S.SERVING]


def test_a_drained_server_scalelite_disabled_may_stop_on_its_own_word():
    # Scalelite's poller turns a cordoned server at load 0 `disabled`, and a disabled server has no load.
    s = server("c0", state=S.DRAINING, billed_minutes_ago=55)
    ok, why = drain_verdict(s, _entry(s, "disabled", None), EMPTY, CFG.providers["cheap"], CFG.lifecycle, T0)
    assert ok, why
    busy = ServerCheck(healthy=True, meetings=1, recordings_pending=0)
    ok, why = drain_verdict(s, _entry(s, "disabled", None), busy, CFG.providers["cheap"], CFG.lifecycle, T0)
    assert not ok and "still has 1 meeting" in why
    ok, why = drain_verdict(s, _entry(s, "cordoned", None), EMPTY, CFG.providers["cheap"], CFG.lifecycle, T0)
    assert not ok and "unavailable" in why  # cordoned without a load: doubt, wait


def test_a_registration_gone_from_scalelite_leaves_the_decision_to_the_server_itself():
    s = server("c0", state=S.DRAINING, billed_minutes_ago=55)  # scalelite_id kept: deleteServer, then killed
    ok, why = drain_verdict(s, None, EMPTY, CFG.providers["cheap"], CFG.lifecycle, T0)
    assert ok, why
    busy = ServerCheck(healthy=True, meetings=2, recordings_pending=0)
    assert not drain_verdict(s, None, busy, CFG.providers["cheap"], CFG.lifecycle, T0)[0]
    assert not drain_verdict(
        s, None, ServerCheck(healthy=False, problem="down"), CFG.providers["cheap"], CFG.lifecycle, T0
    )[0]


def test_a_server_cordoned_for_being_offline_is_stopped_once_drained():
    s = server("c0", state=S.DRAINING, offline_ticks=3, billed_minutes_ago=55)
    obs = observation(
        owned() + [s], load_of(0), scalelite={s.url: _entry(s, "disabled", None)}, checks={"c0": EMPTY}
    )
    assert _actions(decide(obs, CFG), "c0") == ["stop"]


def test_a_server_whose_registration_is_gone_is_not_reopened():
    s = server("c0", state=S.DRAINING, billed_minutes_ago=20)
    fleet = owned() + [s]
    obs = observation(
        fleet, load_of(1300), scalelite={}, checks={"c0": EMPTY}
    )  # Scalelite lists nothing of ours
    d = decide(obs, CFG)
    assert "uncordon" not in _actions(d, "c0")
    assert [(a.action, a.count) for a in d.actions if a.action == "start"] == [("start", 1)]
    listed = observation(fleet, load_of(1300), scalelite=registered_for(fleet), checks={"c0": EMPTY})
    assert _actions(decide(listed, CFG), "c0") == ["uncordon"]  # still listed: reopened, as before


def test_a_stop_left_half_done_is_finished():
    drained = server("c0", state=S.DRAINED, scalelite_id=None)
    stopping = server("c1", state=S.STOPPING, scalelite_id=None)
    obs = observation(owned() + [drained, stopping], load_of(0), scalelite={})
    d = decide(obs, CFG)
    assert (_actions(d, "c0"), _actions(d, "c1")) == (["stop"], ["stop"])
    blind = observation(
        owned() + [drained], load_of(0), scalelite={}, unreachable_providers=frozenset({"cheap"})
    )
    assert _actions(decide(blind, CFG), "c0") == []  # the provider cannot be read: wait for its list


def test_scalelite_state_wins_over_a_record_a_killed_tick_did_not_save():
    serving, draining = server("c0"), server("c1", state=S.DRAINING)
    listed = {s.url: _entry(s, state) for s, state in ((serving, "cordoned"), (draining, "enabled"))}
    vms = {
        "cheap": [VM("cheap", s.vm_id, s.name, "running", s.url) for s in (serving, draining)],
        "owned": None,
        "dear": None,
    }
    moved = {s.name: s.state for s in reconcile([serving, draining], vms, listed, CFG, T0)}
    assert moved == {"c0": S.DRAINING, "c1": S.SERVING}
    consistent = {serving.url: _entry(serving, "enabled"), draining.url: _entry(draining, "disabled", None)}
    assert reconcile([serving, draining], vms, consistent, CFG, T0) == []


def test_no_registration_while_scalelite_list_is_unread():
    booting = server("c0", state=S.BOOTING)  # its addServer may have happened, answer lost
    healthy = {"c0": ServerCheck(healthy=True)}
    blind = decide(observation(owned() + [booting], load_of(1400), scalelite=None, checks=healthy), CFG)
    assert _actions(blind, "c0") == []
    assert any("waits for Scalelite's server list" in note for note in blind.notes)
    seen = decide(observation(owned() + [booting], load_of(1400), checks=healthy), CFG)
    assert _actions(seen, "c0") == ["register", "enable"]


def test_only_our_hourly_providers_registrations_are_adopted_each_record_against_its_own_providers_list():
    own, gone_provider = (
        server("own-0", "owned", scalelite_id=None),
        server("x0", "retired", scalelite_id=None),
    )
    cheap, dear = server("c0", scalelite_id=None), server("d0", "dear", scalelite_id=None)
    listed = {
        s.url: ScaleliteServer(
            id=f"sl-{s.name}", url=s.url, secret="x", state="enabled", online=True, load=0.0
        )
        for s in (own, gone_provider, cheap, dear)
    }
    vms = {
        "owned": [VM("owned", own.vm_id, own.name, "running", own.url)],
        "cheap": [VM("cheap", cheap.vm_id, cheap.name, "running", cheap.url)],
        "dear": [],
    }  # dear's VM vanished; it must not be looked up in cheap's list
    moved = {
        s.name: (s.state, s.scalelite_id)
        for s in reconcile([own, cheap, gone_provider, dear], vms, listed, CFG, T0)
    }
    assert moved == {"c0": (S.SERVING, "sl-c0"), "d0": (S.LOST, "sl-d0")}


def test_a_fleet_whose_records_were_lost_keeps_its_registrations_and_their_states():
    # The state store lost (deleted, restored from an old backup) while the VMs and Scalelite ran on:
    # each VM was adopted as booting and registered a second time, a cordoned one as a fresh enabled
    # server that took classes while its old entry was drained; a destroyed VM's stale entry then broke
    # getMeetings for the whole fleet.
    serving, draining, off, new = (server(f"c{i}", scalelite_id=f"sl-c{i}") for i in range(4))
    listed = {
        serving.url: _entry(serving, "enabled", 40.0),
        draining.url: _entry(draining, "cordoned", 12.0),
        off.url: _entry(off, "enabled", None, online=False),
    }
    vms = {"cheap": [VM("cheap", s.vm_id, s.name, "running", s.url) for s in (serving, draining, off, new)]}
    adopted = {s.name: s for s in reconcile([], vms, listed, CFG, T0)}
    assert {name: (s.state, s.scalelite_id) for name, s in adopted.items()} == {
        "c0": (S.SERVING, "sl-c0"),
        "c1": (S.DRAINING, "sl-c1"),
        "c2": (S.BOOTING, "sl-c2"),  # offline in Scalelite: its health decides, its registration is kept
        "c3": (S.BOOTING, None),  # not in Scalelite: registered once healthy, as before
    }
    assert "registration sl-c1 found in Scalelite (cordoned)" in adopted["c1"].reason
    healthy = {name: ServerCheck(healthy=True, meetings=1) for name in adopted}
    obs = observation(owned() + list(adopted.values()), load_of(1400), scalelite=listed, checks=healthy)
    decision = decide(obs, CFG)
    # c2's register keeps its id (the actuator calls addServer only without one); c0 and c1 are left be
    assert [(a.action, a.server) for a in decision.actions if a.server] == [
        ("register", "c2"),
        ("enable", "c2"),
        ("register", "c3"),
        ("enable", "c3"),
    ]


def test_a_drain_that_cannot_be_verified_is_a_hold_that_says_why():
    # "On doubt, hold and say why": an unreadable drain was a note beside the actions, easy to miss, and
    # the history and `tick --json` showed no `hold` for it.
    from chalicelib.domain.kinds import HoldKind

    s = server("c0", state=S.DRAINING, billed_minutes_ago=55)
    unread = ServerCheck(healthy=False, problem="HTTP 500")
    cases = {
        "own getMeetings unread (HTTP 500)": dict(
            scalelite={s.url: _entry(s, "cordoned", 0.0)}, checks={"c0": unread}
        ),
        "Scalelite load of c0 is unavailable": dict(
            scalelite={s.url: _entry(s, "cordoned", None)}, checks={"c0": EMPTY}
        ),
        "Scalelite's server list unread": dict(scalelite=None, checks={"c0": EMPTY}),
    }
    for said, seen in cases.items():
        decision = decide(observation(owned() + [s], load_of(0), **seen), CFG)
        (held,) = [a for a in decision.actions if a.server == "c0"]
        assert held.action == "hold" and held.hold is HoldKind.DOUBT, (said, held)
        assert said in held.reason and "not verified" in held.reason and "kept running" in held.reason
    # a server that is merely busy is no doubt: a note, as before
    busy = ServerCheck(healthy=True, meetings=3, recordings_pending=0)
    decision = decide(
        observation(
            owned() + [s], load_of(0), scalelite={s.url: _entry(s, "cordoned", 9.0)}, checks={"c0": busy}
        ),
        CFG,
    )
    assert [a for a in decision.actions if a.server == "c0"] == []
    assert decision.notes == ("Scalelite load of c0 is 9.0",)


def test_a_power_pools_stopped_vm_deleted_at_the_provider_is_marked_lost():
    # The rule existed but could not run (a stopped record returned early as final): the record stayed
    # `stopped`, the pool's next start chose it, the provider answered "no such VM", every tick.
    pool = CFG.model_copy(
        update={
            "providers": {
                **CFG.providers,
                "cheap": CFG.providers["cheap"].model_copy(update={"mode": "power"}),
            }
        }
    )
    spare = server("c0", state=S.STOPPED)
    (moved,) = reconcile([spare], {"cheap": []}, {}, pool, T0)
    assert moved.state is S.LOST and "no longer listed by the provider" in moved.reason
    listed = {"cheap": [VM("cheap", spare.vm_id, spare.name, "stopped", spare.url)]}
    assert reconcile([spare], listed, {}, pool, T0) == []  # still there: a spare, left as it is
    # a create pool's stopped VM (stopped outside bbbscale) that goes from the list was destroyed there
    (gone,) = reconcile([spare], {"cheap": []}, {}, CFG, T0)
    assert gone.state is S.DESTROYED and "destroyed outside bbbscale" in gone.reason


def test_a_stopped_vm_found_in_a_create_pool_is_named_for_what_it_is():
    # it was adopted as a "stopped VM of the power pool" in a pool that has none
    found = server("c0")
    listed = {"cheap": [VM("cheap", found.vm_id, found.name, "stopped", found.url)]}
    (adopted,) = reconcile([], listed, {}, CFG, T0)
    assert adopted.state is S.STOPPED and "stopped outside bbbscale" in adopted.reason
    assert "power pool" not in adopted.reason
