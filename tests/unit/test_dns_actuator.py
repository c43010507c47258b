"""The act step for DNS records over a hand-written fake of our `Dns` port: intent is in the history before
each call, a record made for a VM and then destroyed in the same tick is not made again, and a failed
call becomes a hold that leaves the server's record as it was."""

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.config_file import parse_settings
from chalicelib.domain.decision import Decision
from chalicelib.domain.dns import DnsChange
from chalicelib.domain.fleet import Fleet, Server, ServerState
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.domain.policy import Allocation
from chalicelib.ports import Dns, DnsRecord
from chalicelib.render import action_json, dns_json
from chalicelib.service.actuator import Actuator
from chalicelib.service.records import transition
from chalicelib.service.service_ports import ActuatorPorts
from tests.support.builders import T0
from tests.support.fake_dns import FakeDns
from tests.support.fakes import Clock, FakeProvider, FakeScalelite

SETTINGS = parse_settings(
    {
        "cluster": "t",
        "providers": {"cheap": {"kind": "simulated"}},
        "dns": {"driver": "gandi_live", "zone": "bbb.example.org"},
    }
)
A1 = DnsRecord("bbbscale-t-cheap-1", "A", "203.0.113.1")
A2 = DnsRecord("bbbscale-t-cheap-2", "A", "203.0.113.2")


def runtime(fail=()):
    store = MemoryStateStore(cluster="t")
    dns = FakeDns(store, fail)
    assert isinstance(dns, Dns)  # the port's shape
    rt = Wiring(
        SETTINGS,
        store=store,
        scalelite=FakeScalelite(),
        providers={"cheap": FakeProvider("cheap", Clock(T0))},
        dns=dns,
        clock=lambda: T0,
    )
    return rt, dns


def decision(*changes, actions=()):
    return Decision(
        Allocation(servers={"cheap": 0}, needed_units=0.0), 0.0, tuple(actions), dns=tuple(changes)
    )


def booting(name):
    return Server(name, "cheap", ServerState.BOOTING, T0, 300.0, vm_id=f"id-{name}")


def test_intent_is_recorded_before_each_call():
    rt, dns = runtime()
    Actuator(ActuatorPorts.of(rt.ports()), T0).apply(
        decision(DnsChange("create", A1, A1.name, "cheap", "missing")), Fleet()
    )
    assert dns.asked == [("create", A1, True)]
    lines = [e.summary for e in rt.store.history.recent(10, kind="action")]
    assert f"dns create {A1.name} A 203.0.113.1 in bbb.example.org: missing" in lines
    assert f"dns create {A1.name} A 203.0.113.1 in bbb.example.org: done" in lines


def test_a_failed_call_is_a_hold_and_the_other_changes_still_happen():
    rt, dns = runtime(fail={A1})
    server = transition(rt.store, booting(A1.name))
    actuator = Actuator(ActuatorPorts.of(rt.ports()), T0)
    results = actuator.apply(
        decision(
            DnsChange("create", A1, A1.name, "cheap", "missing"),
            DnsChange("create", A2, A2.name, "cheap", "missing"),
        ),
        Fleet((server,)),
    )
    (held,) = results
    assert held.hold is HoldKind.DNS and held.outcome is Outcome.HELD
    hold = action_json(held)
    assert hold["action"] == "hold" and hold["server"] == A1.name
    assert hold["reason"].startswith(f"dns: create {A1.name} A 203.0.113.1 failed: dns fake create failed")
    assert [(d["record"], d["result"][:6]) for d in map(dns_json, actuator.dns_report)] == [
        (f"{A1.name} A 203.0.113.1", "failed"),
        (f"{A2.name} A 203.0.113.2", "done"),
    ]
    assert dns.held == {A2}
    assert rt.store.servers.servers() == [server]  # the server's record is untouched


def test_a_vm_destroyed_this_tick_loses_its_records_and_gets_none_again():
    from chalicelib.domain.decision import Action

    rt, dns = runtime()
    dns.held = {A1}
    server = transition(rt.store, booting(A1.name))
    replace = Action("replace", "cheap", "not healthy in time", server=A1.name)
    actuator = Actuator(ActuatorPorts.of(rt.ports()), T0, dns_records=(A1,))
    actuator.apply(
        decision(DnsChange("create", A1, A1.name, "cheap", "planned before the replace"), actions=[replace]),
        Fleet((server,)),
    )
    assert [c for c in rt.providers["cheap"].asked if c[0] == "destroy"] == [("destroy", f"id-{A1.name}")]
    assert dns.asked == [("delete", A1, True)] and dns.held == set()
