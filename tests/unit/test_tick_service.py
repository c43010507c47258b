"""The tick service end to end over fakes of our ports: observe -> decide -> act, and its safety."""

from datetime import timedelta

import pytest

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.domain.fleet import ServerState as S
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.ports import ProviderError
from chalicelib.render import tick_json
from chalicelib.service.forecasting import NoForecast
from tests.support.builders import T0, settings
from tests.support.fakes import Clock, FakeBbb, FakeProvider, FakeScalelite


class World:
    """Wires a Runtime to fakes; owned pool left out to keep the cases small."""

    def __init__(self, **changes):
        cfg = settings(**changes)
        providers = {k: v for k, v in cfg.providers.items() if k != "owned"}
        self.settings = cfg.model_copy(update={"providers": providers})
        self.clock = Clock(T0)
        self.scalelite = FakeScalelite()
        self.providers = {n: FakeProvider(n, self.clock) for n in providers}
        self.healthy: set[str] = set()
        self.store = MemoryStateStore(cluster="t")
        self.reconfigure(self.settings)

    def reconfigure(self, cfg) -> None:
        """Run on `cfg` from now on: the same store, Scalelite, providers and clock (an operator's
        new configuration, deployed between two ticks)."""
        self.settings = cfg
        self.rt = Wiring(
            cfg,
            store=self.store,
            scalelite=self.scalelite,
            providers=self.providers,
            bbb_factory=lambda url, secret, name: FakeBbb(self.scalelite, url, self.healthy),
            clock=self.clock,
            secret=lambda name: None,
            forecaster=NoForecast(),
        )

    def tick(self, minutes=1, **kw) -> dict:
        """One tick; its `tick --json` document (the typed report stays in `last`)."""
        self.clock.advance(minutes=minutes)
        self.last = self.rt.tick(now=self.clock.now, **kw)
        return tick_json(self.last)

    def states(self):
        return sorted((s.name, s.state.value) for s in self.store.servers.servers())

    def boot_all(self):
        for p in self.providers.values():
            p.boot()
            self.healthy |= {vm.address for vm in p.vms.values()}


def test_scale_up_then_register_and_enable():
    w = World(headroom={"percent": 0, "units": 600})  # 600 units of headroom on no load = 2 servers
    r = w.tick()
    assert r["desired"] == {"cheap": 2, "dear": 0}
    assert [a["action"] for a in r["actions"]] == ["start"]
    assert w.providers["cheap"].asked[-1] == ("create", ["bbbscale-t-cheap-1", "bbbscale-t-cheap-2"])
    assert [s for _, s in w.states()] == ["booting", "booting"]
    w.boot_all()
    r = w.tick()
    assert [a["action"] for a in r["actions"]] == ["register", "enable"] * 2
    assert [c[0] for c in w.scalelite.asked] == ["add", "enable", "add", "enable"]
    assert [s for _, s in w.states()] == ["serving", "serving"]
    assert r["fleet"] == {"cheap": {"serving": 2}}


def test_dry_run_acts_on_nothing_and_records_the_decision():
    w = World(headroom={"percent": 0, "units": 600})
    r = w.tick(dry_run=True)
    assert r["dry_run"] and r["actions"][0]["action"] == "start"
    assert all(c[0] == "list" for p in w.providers.values() for c in p.asked)
    assert w.store.servers.servers() == []
    assert w.store.history.recent(1, kind="tick")[0].summary.startswith("0 users")


def test_a_held_lease_means_no_action():
    w = World(headroom={"percent": 0, "units": 600})
    assert w.store.lease.acquire("someone-else", w.clock.now + timedelta(minutes=1), 300)
    r = w.tick()
    assert r["actions"][0]["action"] == "hold" and "lease" in r["actions"][0]["reason"]
    assert w.last.lease_held and w.last.actions[0].hold is HoldKind.LEASE
    assert all(not p.asked for p in w.providers.values())
    # it read nothing, by design: no "load unknown" figure from it (docs/alarms.md), as from one that read
    from chalicelib.domain.tick_document import load_unknown

    assert load_unknown(r) is None
    w.store.lease.release("someone-else")
    assert load_unknown(w.tick()) is False


def test_lost_create_answer_is_adopted_not_repeated():
    w = World(headroom={"percent": 0, "units": 300})
    w.providers["cheap"].lose_answer = True
    r = w.tick()
    assert r["actions"][0]["result"].startswith("failed")
    assert w.last.actions[0].outcome is Outcome.FAILED
    assert w.states() == [("bbbscale-t-cheap-1", "requested")]
    w.providers["cheap"].lose_answer = False
    r = w.tick()  # the VM is listed by name: adopted, and nothing new is started
    assert w.states() == [("bbbscale-t-cheap-1", "booting")]
    assert [c for c in w.providers["cheap"].asked if c[0] == "create"] == [("create", ["bbbscale-t-cheap-1"])]


def test_repeated_failures_back_off_and_move_demand_to_the_next_provider():
    w = World(headroom={"percent": 0, "units": 300})
    for _ in range(3):
        w.providers["cheap"].fail.append(ProviderError("quota exceeded"))
        w.tick()
    r = w.tick()
    assert r["desired"]["dear"] == 1
    assert any(a["action"] == "start" and a["provider"] == "dear" for a in r["actions"])
    assert any("backing off" in reason for reason in r["reasons"])


def _serving_world(n=2):
    w = World(headroom={"percent": 0, "units": 300 * n})
    w.tick()
    w.boot_all()
    w.tick()
    return w


def test_scale_down_cordons_waits_for_empty_and_paid_hour_then_stops():
    w = _serving_world(2)
    url = sorted(s.url for s in w.store.servers.servers())[0]
    w.scalelite.meetings_by_url[url] = 2  # a class on one of them
    w.reconfigure(
        w.settings.model_copy(update={"headroom": w.settings.headroom.model_copy(update={"units": 0})})
    )
    for _ in range(12):
        r = w.tick()
    stops = [a for a in r["actions"] if a["action"] == "stop"]
    assert not stops
    states = dict(w.states())
    assert list(states.values()).count("draining") >= 1
    # The class ends; nothing is stopped until the paid hour is about to end.
    w.scalelite.meetings_by_url[url] = 0
    destroyed = []
    for _ in range(60):
        r = w.tick()
        destroyed += [c for c in w.providers["cheap"].asked if c[0] == "destroy"]
        if destroyed:
            break
    assert destroyed, "the empty server is stopped near the end of its paid hour"
    minutes_in = (w.clock.now - T0).total_seconds() / 60
    assert 48 <= minutes_in <= 61


def test_scalelite_down_holds_any_scale_down():
    w = _serving_world(2)
    w.reconfigure(
        w.settings.model_copy(update={"headroom": w.settings.headroom.model_copy(update={"units": 0})})
    )
    w.scalelite.down = True
    for _ in range(15):
        r = w.tick()
    assert not [a for a in r["actions"] if a["action"] in ("cordon", "stop")]
    assert any("Scalelite" in p for p in r["problems"])
    assert [s for _, s in w.states()] == ["serving", "serving"]


def test_freeze_from_the_store_holds_everything():
    w = World(headroom={"percent": 0, "units": 600})
    w.store.settings.put("freeze", {"until": None, "by": "alice", "reason": "exam day"})
    r = w.tick()
    assert [a["action"] for a in r["actions"]] == ["hold"]
    assert [a.hold for a in w.last.actions] == [HoldKind.FROZEN]
    assert not [c for p in w.providers.values() for c in p.asked if c[0] != "list"]


@pytest.mark.parametrize("failing", ["list", "create"])
def test_provider_faults_never_lose_a_vm(failing):
    w = World(headroom={"percent": 0, "units": 900})
    cheap = w.providers["cheap"]
    if failing == "list":
        cheap.fail_list.append(ProviderError("503", retryable=True))
        r = w.tick()  # cheap cannot be listed: it is capped where it is, dear takes the demand
        assert not [c for c in cheap.asked if c[0] == "create"]
        assert [(a["action"], a["provider"]) for a in r["actions"]] == [("start", "dear")]
        assert any("provider cheap: list failed" in p for p in r["problems"])
    else:
        cheap.lose_answer = True
        w.tick()
        cheap.lose_answer = False
    for _ in range(4):
        w.tick()
    w.boot_all()
    w.tick()
    names = {vm.name for vm in cheap.vms.values()}
    tracked = {s.name for s in w.store.servers.servers() if s.state not in (S.FAILED, S.DESTROYED, S.LOST)}
    assert names <= tracked


def test_ended_records_are_forgotten_after_a_day_never_live_ones():
    w = _serving_world(2)
    from dataclasses import replace as dc_replace

    live = w.store.servers.servers()
    w.store.servers.save(
        dc_replace(
            live[0],
            name="bbbscale-t-cheap-99",
            state=S.DESTROYED,
            version=0,
            scalelite_id=None,
            since=w.clock.now,
            vm_id="id-gone",
            url="http://bbbscale-t-cheap-99/bigbluebutton/api",
        )
    )
    w.tick(minutes=60)
    assert "bbbscale-t-cheap-99" in [s.name for s in w.store.servers.servers()]
    w.tick(minutes=24 * 60)
    names = [s.name for s in w.store.servers.servers()]
    assert "bbbscale-t-cheap-99" not in names and all(s.name in names for s in live)


def _stop_by_hand(w: World, name: str) -> str:
    """An operator stops a create pool's VM at the provider's console (bbbscale is not asked)."""
    from dataclasses import replace

    cheap = w.providers["cheap"]
    (vm_id,) = [i for i, vm in cheap.vms.items() if vm.name == name]
    cheap.vms[vm_id] = replace(cheap.vms[vm_id], status="stopped")
    return vm_id


def _said(w: World, name: str, words: str) -> bool:
    """Whether a transition of `name` in the history gave that reason."""
    return any(
        name in e.summary and words in e.summary for e in w.store.history.recent(500, kind="transition")
    )


def test_a_create_pools_vm_stopped_by_hand_is_kept_in_view_then_destroyed_not_left_forever():
    w = _serving_world(2)
    name = sorted(s.name for s in w.store.servers.servers())[0]
    vm_id = _stop_by_hand(w, name)
    r = w.tick()
    assert dict(w.states())[name] == "stopped"  # not lost: bbbscale knows where it is
    assert _said(w, name, "stopped outside bbbscale: not capacity")
    assert any(a["action"] == "start" for a in r["actions"])  # its capacity is replaced
    assert not [c for c in w.providers["cheap"].asked if c == ("destroy", vm_id)]
    w.tick(minutes=60 * 23)  # a day is what an operator gets to look at it (the default)
    assert vm_id in w.providers["cheap"].vms
    r = w.tick(minutes=60)
    (destroy,) = [a for a in r["actions"] if a["action"] == "stop" and a.get("server") == name]
    assert "stopped outside bbbscale 24 h ago" in destroy["reason"] and destroy["result"] == "done"
    assert vm_id not in w.providers["cheap"].vms
    assert dict(w.states())[name] == "destroyed"
    assert w.providers["cheap"].asked.count(("destroy", vm_id)) == 1
    w.tick()
    assert w.providers["cheap"].asked.count(("destroy", vm_id)) == 1  # once


def test_a_vm_stopped_by_hand_and_started_again_serves_again_and_is_never_destroyed():
    w = _serving_world(2)
    name = sorted(s.name for s in w.store.servers.servers())[0]
    vm_id = _stop_by_hand(w, name)
    w.tick()
    w.providers["cheap"].start(vm_id)
    w.providers["cheap"].boot()
    w.tick()
    assert _said(w, name, "its VM was started again outside bbbscale: adopted")
    for _ in range(3):
        w.tick()
    assert dict(w.states())[name] == "serving"
    w.tick(minutes=60 * 25)
    assert ("destroy", vm_id) not in w.providers["cheap"].asked


def test_with_destroy_stopped_after_hours_0_a_stopped_vm_is_kept_and_reported():
    w = _serving_world(2)
    w.reconfigure(
        w.settings.model_copy(
            update={"lifecycle": w.settings.lifecycle.model_copy(update={"destroy_stopped_after_hours": 0})}
        )
    )
    name = sorted(s.name for s in w.store.servers.servers())[0]
    vm_id = _stop_by_hand(w, name)
    w.tick()
    w.tick(minutes=60 * 48)
    assert ("destroy", vm_id) not in w.providers["cheap"].asked and dict(w.states())[name] == "stopped"


def test_a_server_an_operator_deletes_from_scalelite_is_drained_not_registered_behind_their_back():
    w = _serving_world(2)
    gone, kept = sorted(w.store.servers.servers(), key=lambda s: s.name)
    w.scalelite.delete(gone.scalelite_id)  # the operator's deleteServer (rake servers:remove)
    w.scalelite.meetings_by_url[gone.url] = 1  # a class still on it (BBB keeps it; Scalelite forgot it)
    r = w.tick()
    assert dict(w.states())[gone.name] == "draining"
    assert _said(w, gone.name, "deleted from Scalelite outside bbbscale (an operator's deleteServer)")
    assert any(a["action"] == "start" for a in r["actions"])  # its capacity is replaced
    for _ in range(90):  # an hour and a half: its paid hour ends, the class goes on
        w.tick()
    assert dict(w.states())[gone.name] == "draining"  # a class on it: never stopped
    w.scalelite.meetings_by_url[gone.url] = 0
    for _ in range(60):
        w.tick()
    assert dict(w.states())[gone.name] == "destroyed"
    assert w.scalelite.asked.count(("add", gone.url)) == 1  # registered once, at its boot: never again
    assert dict(w.states())[kept.name] == "serving"


def test_a_scalelite_that_lost_every_server_gets_them_registered_again():
    w = _serving_world(2)
    for s in w.store.servers.servers():
        w.scalelite.delete(s.scalelite_id)  # a new or reset Scalelite database
    r = w.tick()
    assert sorted(a["action"] for a in r["actions"]) == ["enable", "enable", "register", "register"]
    assert all(_said(w, s.name, "as every server of this fleet") for s in w.store.servers.servers())
    assert sorted(set(dict(w.states()).values())) == ["serving"]


def test_a_deleted_server_the_operator_adds_back_serves_again():
    w = _serving_world(2)
    gone = sorted(w.store.servers.servers(), key=lambda s: s.name)[0]
    w.scalelite.delete(gone.scalelite_id)
    w.tick()
    back = w.scalelite.add(gone.url, "secret", 1.0, None)
    w.scalelite.set_state(back.id, "enable")
    w.tick()
    w.tick()
    (record,) = [s for s in w.store.servers.servers() if s.name == gone.name]
    assert record.state is S.SERVING and record.scalelite_id == back.id


def test_a_getmeetings_that_times_out_while_getservers_answers_is_read_from_each_server():
    """Scalelite's getMeetings asks its servers one after another (v1.6.1 get_meetings): on a large
    fleet it can outlast the read timeout while getServers and every server answer at once. The load is
    then each server's own, asked in parallel, not unknown (which holds every scale-down)."""
    from chalicelib.ports import UnreachableError

    w = _serving_world(2)
    busy = sorted(s.url for s in w.store.servers.servers())[0]
    w.scalelite.meetings_by_url[busy] = 3
    w.scalelite.meetings_fault = UnreachableError(
        "scalelite: getMeetings failed after 3 attempt(s) (read timeout: no byte for 20 s)", timed_out=True
    )
    r = w.tick()
    assert r["load"] is not None and r["load"]["meetings"] == 3
    assert r["problems"][:2] == [
        "Scalelite getMeetings failed: scalelite: getMeetings failed after 3 attempt(s) (read timeout: no "
        "byte for 20 s)",
        "the load is read from each server's own getMeetings instead",
    ]
    w.scalelite.down = True  # Scalelite itself gone: getServers fails too, and nothing is guessed
    r = w.tick()
    assert r["load"] is None


def test_a_timed_out_getmeetings_is_not_asked_again_for_a_while():
    """A fleet whose Scalelite getMeetings outlasts the read timeout would cost every tick its connect + 3
    x read timeout (63 s at the defaults: the minute timer's next tick finds the lease held). After one
    timeout the ticks read the servers directly for `meetings_direct_minutes`, say so, and then ask
    Scalelite again: back to it when it answers, another window when it times out again."""
    from chalicelib.ports import UnreachableError
    from chalicelib.service.commands import describe_status
    from chalicelib.service.status import status

    w = _serving_world(2)
    w.reconfigure(
        w.settings.model_copy(
            update={"scalelite": w.settings.scalelite.model_copy(update={"meetings_direct_minutes": 10})}
        )
    )
    busy = sorted(s.url for s in w.store.servers.servers())[0]
    w.scalelite.meetings_by_url[busy] = 3
    timeout = UnreachableError(
        "scalelite: getMeetings failed (read timeout: no byte for 20 s)", timed_out=True
    )
    w.scalelite.meetings_fault = timeout
    asked = w.scalelite.meetings_asked
    w.tick()
    first = w.clock.now
    assert w.scalelite.meetings_asked == asked + 1
    w.tick(dry_run=True)  # a dry run reads the route, and neither asks Scalelite nor changes the route
    for _ in range(8):  # minutes 2 to 9 of the window
        r = w.tick()
        assert r["load"]["meetings"] == 3 and w.last.load.from_servers  # the kind the chat is told by
        assert r["problems"][0] == (
            f"the load is read from each server's own getMeetings until {first + timedelta(minutes=10):%H:%M} "
            f"UTC: Scalelite's getMeetings timed out at {first:%H:%M} UTC ({timeout})"
        )
    assert w.scalelite.meetings_asked == asked + 1, "not asked within the window"
    shown = status(w.settings, w.store, w.clock.now)["meetings_direct"]
    assert shown["since"] == shown["at"] == first.isoformat()
    assert shown["until"] == (first + timedelta(minutes=10)).isoformat()
    assert (
        f"Load read from each server's own getMeetings until {first + timedelta(minutes=10):%Y-%m-%d %H:%M} "
        f"UTC: Scalelite's getMeetings timed out at {first:%Y-%m-%d %H:%M} UTC"
    ) in describe_status(status(w.settings, w.store, w.clock.now))

    r = w.tick()  # the window is over: asked again, timed out again, another window from now
    assert w.scalelite.meetings_asked == asked + 2 and r["load"]["meetings"] == 3
    again = status(w.settings, w.store, w.clock.now)["meetings_direct"]
    assert again["since"] == first.isoformat() and again["at"] == w.clock.now.isoformat()

    w.scalelite.meetings_fault = None
    w.clock.advance(minutes=10)
    r = w.tick()  # Scalelite answers again: its getMeetings from now on, the route forgotten
    assert w.scalelite.meetings_asked == asked + 3 and not r["problems"] and not w.last.load.from_servers
    assert status(w.settings, w.store, w.clock.now)["meetings_direct"] is None
    w.tick()
    assert w.scalelite.meetings_asked == asked + 4


def test_a_getmeetings_that_fails_at_once_is_asked_again_at_the_next_tick():
    """Only a slow failure is remembered: a quick one costs the next tick nothing to try again."""
    from chalicelib.ports import UnreachableError

    w = _serving_world(2)
    w.scalelite.meetings_fault = UnreachableError("scalelite: getMeetings failed (HTTP 502)")
    asked = w.scalelite.meetings_asked
    w.tick()
    w.tick()
    assert w.scalelite.meetings_asked == asked + 2
