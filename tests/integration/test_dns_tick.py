"""Per-VM DNS through whole ticks: the real DNS adapters (Gandi LiveDNS and OVH fakes on loopback, Route 53
on moto) behind the tick service, with hand-written fakes of our other ports. A VM gets its record in the
tick that creates it, a destroyed one loses it, reconciliation removes an orphan and remakes a missing
record, a DNS failure holds with its reason and never loses the VM, and a dry run lists the calls."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.config_file import parse_settings
from chalicelib.domain.fleet import VM
from chalicelib.ports import DnsRecord, LaunchSpec
from chalicelib.render import tick_json
from chalicelib.service.forecasting import NoForecast
from tests.provider_fakes.dns_zones import DRIVERS, SECRETS, ZONE, zone_of
from tests.support.builders import T0
from tests.support.fakes import Clock, FakeBbb, FakeProvider, FakeScalelite


class AddressedProvider(FakeProvider):
    """The provider fake (held to the Provider contract), its VMs with public addresses from the start
    (203.0.113.n, 2001:db8::n)."""

    def create(self, specs: list[LaunchSpec]) -> list[VM]:
        made = super().create(specs)
        for vm in made:
            n = int(vm.name.rsplit("-", 1)[1])
            self.vms[vm.vm_id] = replace(vm, ips=(f"203.0.113.{n}", f"2001:db8::{n}"))
        return [self.vms[vm.vm_id] for vm in made]


class Fleet:
    """A Runtime over the fakes, [dns] pointing at the loopback zone of `driver`."""

    def __init__(self, driver: str, options: dict, units: int = 600):
        self.settings = parse_settings(
            {
                "cluster": "t",
                "headroom": {"percent": 0, "units": units},  # 300 units a server: units/300 servers
                "providers": {"cheap": {"kind": "simulated", "max_surge": 5, "max_provision_minutes": 15}},
                "dns": {"driver": driver, "zone": ZONE, "options": options},
            }
        )
        self.clock = Clock(T0)
        self.scalelite = FakeScalelite()
        self.provider = AddressedProvider("cheap", self.clock)
        self.store = MemoryStateStore(cluster="t")
        self.healthy: set[str] = set()
        self.rt = Wiring(
            self.settings,
            store=self.store,
            scalelite=self.scalelite,
            providers={"cheap": self.provider},
            bbb_factory=lambda url, secret, name: FakeBbb(self.scalelite, url, self.healthy),
            clock=self.clock,
            secret=SECRETS.get,
            forecaster=NoForecast(),
        )

    def tick(self, **kw) -> dict:
        """One tick; its `tick --json` document (the typed report stays in `last`)."""
        self.clock.advance(minutes=1)
        self.last = self.rt.tick(now=self.clock.now, **kw)
        return tick_json(self.last)

    def states(self):
        return {s.name: s.state.value for s in self.store.servers.servers()}


def ours(fake) -> dict:
    return {key: values for key, values in fake.addresses().items() if key[0] != "lb"}


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_new_vm_gets_its_record_at_once_and_a_destroyed_one_loses_it(driver):
    with zone_of(driver) as (options, fake):
        fleet = Fleet(driver, options)
        result = fleet.tick()
        assert [a["action"] for a in result["actions"]] == ["start"]
        assert ours(fake) == {
            ("bbbscale-t-cheap-1", "A"): ["203.0.113.1"],
            ("bbbscale-t-cheap-1", "AAAA"): ["2001:db8::1"],
            ("bbbscale-t-cheap-2", "A"): ["203.0.113.2"],
            ("bbbscale-t-cheap-2", "AAAA"): ["2001:db8::2"],
        }
        assert [d["result"] for d in result["dns"]] == ["done"] * 4
        assert result["dns"][0]["reason"] == "bbbscale-t-cheap-1 created with address 203.0.113.1"
        intents = [e.summary for e in fleet.store.history.recent(50, kind="action") if e.detail.get("intent")]
        assert (
            f"dns create bbbscale-t-cheap-1 A 203.0.113.1 in {ZONE}: bbbscale-t-cheap-1 created with address 203.0.113.1"
            in intents
        )

        assert fleet.tick()["dns"] == []  # in place: nothing to do
        # Never healthy: after max_provision_minutes, the booting VMs are replaced (destroyed).
        fleet.clock.advance(minutes=15)
        result = fleet.tick()
        assert [a["action"] for a in result["actions"] if a["action"] == "replace"] == ["replace", "replace"]
        assert ("destroy", "id-bbbscale-t-cheap-1") in fleet.provider.asked
        assert not any(
            name.startswith(("bbbscale-t-cheap-1", "bbbscale-t-cheap-2")) for name, _ in ours(fake)
        )
        deleted = [d for d in result["dns"] if d["operation"] == "delete"]
        assert {d["reason"] for d in deleted} == {
            "bbbscale-t-cheap-1's VM was destroyed",
            "bbbscale-t-cheap-2's VM was destroyed",
        }


@pytest.mark.parametrize("driver", DRIVERS)
def test_reconciliation_removes_an_orphan_and_makes_a_missing_record_again(driver):
    with zone_of(driver) as (options, fake):
        fleet = Fleet(driver, options, units=300)
        fleet.tick()
        orphan = DnsRecord("bbbscale-t-cheap-99", "A", "203.0.113.99")
        fleet.rt.dns.create(orphan)
        fleet.rt.dns.delete(
            next(r for r in fleet.rt.dns.records() if r.type == "A" and r.name == "bbbscale-t-cheap-1")
        )
        result = fleet.tick()
        assert sorted((d["operation"], d["record"], d["reason"]) for d in result["dns"]) == [
            ("create", "bbbscale-t-cheap-1 A 203.0.113.1", "bbbscale-t-cheap-1 has 203.0.113.1 and no record"),
            ("delete", f"{orphan.name} A {orphan.address}", "orphan: no VM bbbscale-t-cheap-99 any more"),
        ]  # fmt: skip
        assert ours(fake) == {
            ("bbbscale-t-cheap-1", "A"): ["203.0.113.1"],
            ("bbbscale-t-cheap-1", "AAAA"): ["2001:db8::1"],
        }
        assert fake.addresses()[("lb", "A")] == ["198.51.100.1"]  # not ours: never touched


def test_a_dns_failure_holds_with_its_reason_and_never_loses_the_vm():
    with zone_of("gandi_live") as (options, fake):
        fleet = Fleet("gandi_live", options, units=300)
        fake.fail_next = [503] * 10
        result = fleet.tick()
        assert fleet.states() == {"bbbscale-t-cheap-1": "booting"}  # the VM is tracked all the same
        holds = [a for a in result["actions"] if a["action"] == "hold"]
        assert holds and holds[0]["server"] == "bbbscale-t-cheap-1"
        assert "dns: create bbbscale-t-cheap-1 A 203.0.113.1 failed: dns gandi_live" in holds[0]["reason"]
        assert holds[0]["reason"].endswith("bbbscale-t-cheap-1 stays tracked, retried next tick")
        assert "DNS records of bbb.example.org unreadable" in " ".join(
            fleet.tick()["problems"]
        )  # still failing
        fake.fail_next = []
        result = fleet.tick()
        assert [d["result"] for d in result["dns"]] == ["done", "done"]
        assert ours(fake)[("bbbscale-t-cheap-1", "A")] == ["203.0.113.1"]
        assert fleet.states() == {"bbbscale-t-cheap-1": "booting"}


def test_a_dry_run_lists_the_dns_calls_and_makes_none(capsys):
    with zone_of("gandi_live") as (options, fake):
        fleet = Fleet("gandi_live", options, units=300)
        fake.rrsets[ZONE][("bbbscale-t-cheap-99", "A")] = {
            "rrset_name": "bbbscale-t-cheap-99",
            "rrset_type": "A",
            "rrset_ttl": 300,
            "rrset_values": ["203.0.113.99"],
        }
        result = fleet.tick(dry_run=True)
        (start,) = result["actions"]
        assert start["calls"][0] == "create bbbscale-t-cheap-<next>"
        assert start["calls"][-1] == (
            f"dns gandi_live: create A/AAAA bbbscale-t-cheap-<next>.{ZONE} for each new VM once the provider "
            "reports its address"
        )
        (orphan,) = result["dns"]
        assert orphan["operation"] == "delete" and orphan["calls"] == [
            f"DELETE {options['endpoint']}/v5/livedns/domains/{ZONE}/records/bbbscale-t-cheap-99/A"
        ]
        assert ("bbbscale-t-cheap-99", "A") in fake.addresses()
        assert [r.method for r in fake.requests] == ["GET"]  # the zone was read, nothing changed
        assert [c for c in fleet.provider.asked if c[0] != "list"] == []  # nothing asked but the listing
        from chalicelib.render import print_tick

        print_tick(fleet.last)
        printed = capsys.readouterr().out
        assert (
            "  dns delete bbbscale-t-cheap-99 A 203.0.113.99: orphan: no VM bbbscale-t-cheap-99 any more"
            in printed
        )
        assert (
            f"would call: DELETE {options['endpoint']}/v5/livedns/domains/{ZONE}/records/bbbscale-t-cheap-99/A"
            in printed
        )
