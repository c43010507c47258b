"""Per-VM DNS records, the pure part (chalicelib/domain/dns.py): names, addresses, and the changes that
make the zone agree with the VMs — orphans removed, missing records made again, on doubt nothing."""

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chalicelib.domain.dns import DnsChange, Naming, address_records, dns_changes, provider_of
from chalicelib.domain.fleet import VM
from chalicelib.ports import DnsRecord

NAMING = Naming("{server}", "demo")
MANAGED = {"ovh", "ovh-gra"}


def vm(name, *ips, status="running", provider="ovh"):
    return VM(provider, f"id-{name}", name, status, f"{name}.bbb.example.org", ips=tuple(ips))


def a(name, address, kind="A"):
    return DnsRecord(name, kind, address)


def changes(vms, records, **kw):
    return [(c.operation, c.record) for c in dns_changes(vms, records, NAMING, "demo", MANAGED, **kw)]


def test_names_follow_the_pattern_and_only_ours_are_recognised():
    sub = Naming("{server}.bbb", "demo")
    assert sub.record_name("bbbscale-demo-ovh-7") == "bbbscale-demo-ovh-7.bbb"
    assert sub.server_of("bbbscale-demo-ovh-7.bbb") == "bbbscale-demo-ovh-7"
    assert sub.server_of("bbbscale-demo-ovh-7") is None
    assert NAMING.server_of("bbbscale-prod-ovh-7") is None  # another cluster's
    assert NAMING.server_of("lb") is None and NAMING.server_of("bbbscale-demo-ovh-x") is None
    assert provider_of("bbbscale-demo-ovh-gra-3", "demo", MANAGED) == "ovh-gra"
    assert provider_of("bbbscale-demo-ovh-3", "demo", MANAGED) == "ovh"
    assert provider_of("bbbscale-demo-aws-3", "demo", MANAGED) is None


def test_two_addresses_of_one_family_publish_one_and_the_one_held_stays():
    ips = ("198.51.100.7", "203.0.113.10", "2001:db8::7", "2001:db8::8")
    assert address_records("n", ips, ipv6=True) == [a("n", "198.51.100.7"), a("n", "2001:db8::7", "AAAA")]
    held = [a("n", "203.0.113.10"), a("n", "2001:db8::8", "AAAA")]  # made when the order was another
    assert address_records("n", ips, ipv6=True, held=held) == held
    gone = [a("n", "192.0.2.1")]  # no longer the VM's: the first one replaces it
    assert address_records("n", ips, ipv6=False, held=gone) == [a("n", "198.51.100.7")]
    two = vm("bbbscale-demo-ovh-1", "203.0.113.10", "198.51.100.7")
    assert changes({"ovh": [two]}, [a("bbbscale-demo-ovh-1", "198.51.100.7")]) == []
    assert changes({"ovh": [two]}, []) == [("create", a("bbbscale-demo-ovh-1", "203.0.113.10"))]
    both = [a("bbbscale-demo-ovh-1", "198.51.100.7"), a("bbbscale-demo-ovh-1", "203.0.113.10")]
    assert changes({"ovh": [two]}, both) == [("delete", a("bbbscale-demo-ovh-1", "198.51.100.7"))]


def test_only_public_addresses_are_published():
    ips = ("10.0.0.5", "203.0.113.10", "fe80::1", "2001:db8::7", "192.168.1.2", "fd00::1", "not-an-ip")
    assert address_records("n", ips, ipv6=True) == [a("n", "203.0.113.10"), a("n", "2001:db8::7", "AAAA")]
    assert address_records("n", ips, ipv6=False) == [a("n", "203.0.113.10")]


CASES = [
    # (what, vms, records, expected changes)
    ("a new VM with an address gets its record", {"ovh": [vm("bbbscale-demo-ovh-1", "203.0.113.1")]}, [],
     [("create", a("bbbscale-demo-ovh-1", "203.0.113.1"))]),
    ("a record in place is left alone", {"ovh": [vm("bbbscale-demo-ovh-1", "203.0.113.1")]},
     [a("bbbscale-demo-ovh-1", "203.0.113.1")], []),
    ("a changed address: the old record goes first, then the new one",
     {"ovh": [vm("bbbscale-demo-ovh-1", "203.0.113.2")]}, [a("bbbscale-demo-ovh-1", "203.0.113.1")],
     [("delete", a("bbbscale-demo-ovh-1", "203.0.113.1")), ("create", a("bbbscale-demo-ovh-1", "203.0.113.2"))]),
    ("an orphan record (its VM is gone) is removed", {"ovh": []}, [a("bbbscale-demo-ovh-9", "203.0.113.9")],
     [("delete", a("bbbscale-demo-ovh-9", "203.0.113.9"))]),
    ("a gone VM's record is removed", {"ovh": [vm("bbbscale-demo-ovh-9", "203.0.113.9", status="gone")]},
     [a("bbbscale-demo-ovh-9", "203.0.113.9")], [("delete", a("bbbscale-demo-ovh-9", "203.0.113.9"))]),
    ("the provider's list failed: its records are kept", {"ovh": None},
     [a("bbbscale-demo-ovh-9", "203.0.113.9")], []),
    ("a VM with no address yet: nothing to make, nothing removed",
     {"ovh": [vm("bbbscale-demo-ovh-1", status="pending")]}, [a("bbbscale-demo-ovh-1", "203.0.113.1")], []),
    ("a stopped VM of a power pool keeps its record", {"ovh": [vm("bbbscale-demo-ovh-1", status="stopped")]},
     [a("bbbscale-demo-ovh-1", "203.0.113.1")], []),
    ("a record of a provider not managed (static, or unknown) is kept", {"ovh": []},
     [a("bbbscale-demo-owned-1", "203.0.113.1"), a("bbbscale-demo-aws-1", "203.0.113.2")], []),
    ("IPv4 and IPv6", {"ovh": [vm("bbbscale-demo-ovh-1", "203.0.113.1", "2001:db8::1")]}, [],
     [("create", a("bbbscale-demo-ovh-1", "203.0.113.1")), ("create", a("bbbscale-demo-ovh-1", "2001:db8::1", "AAAA"))]),
    ("an address given as the VM's address (no ips listed)",
     {"ovh": [VM("ovh", "i", "bbbscale-demo-ovh-1", "running", "203.0.113.1")]}, [],
     [("create", a("bbbscale-demo-ovh-1", "203.0.113.1"))]),
]  # fmt: skip


@pytest.mark.parametrize(("what", "vms", "records", "expected"), CASES, ids=[c[0] for c in CASES])
def test_changes(what, vms, records, expected):
    assert changes(vms, records) == expected


def test_an_unreadable_zone_decides_nothing():
    assert changes({"ovh": [vm("bbbscale-demo-ovh-1", "203.0.113.1")]}, None) == []


def test_changes_say_which_server_and_why():
    (change,) = dns_changes({"ovh": []}, [a("bbbscale-demo-ovh-9", "203.0.113.9")], NAMING, "demo", MANAGED)
    assert change == DnsChange(
        "delete", a("bbbscale-demo-ovh-9", "203.0.113.9"), "bbbscale-demo-ovh-9", "ovh",
        "orphan: no VM bbbscale-demo-ovh-9 any more",
    )  # fmt: skip
    assert change.as_json()["record"] == "bbbscale-demo-ovh-9 A 203.0.113.9"


octet = st.integers(1, 254)
public = st.builds(lambda x, y: f"203.0.{x}.{y}", octet, octet)


@hypothesis_settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(st.integers(1, 12), st.lists(public, max_size=2), max_size=6),
    st.lists(st.tuples(st.integers(1, 12), public), max_size=8),
)
def test_applying_the_changes_converges_in_one_pass(machines, present):
    """Whatever the zone holds, one pass of changes leaves one record per VM with an address — the one the
    zone already held if it is still the VM's, else the VM's first — and a second pass finds nothing."""
    vms = {"ovh": [vm(f"bbbscale-demo-ovh-{n}", *ips) for n, ips in machines.items()]}
    zone = {a(f"bbbscale-demo-ovh-{n}", ip) for n, ip in present}
    before = set(zone)
    for operation, record in changes(vms, sorted(zone, key=str)):
        if operation == "delete":
            assert record in zone
            zone.discard(record)
        else:
            assert record not in zone
            zone.add(record)
    wanted = set()
    for n, ips in machines.items():
        held = [ip for ip in ips if a(f"bbbscale-demo-ovh-{n}", ip) in before]
        if ips:
            wanted.add(a(f"bbbscale-demo-ovh-{n}", (held or ips)[0]))
    kept = {
        r
        for r in zone
        if int(r.name.rsplit("-", 1)[1]) in machines and not machines[int(r.name.rsplit("-", 1)[1])]
    }
    assert zone == wanted | kept  # a VM without an address keeps what it had
    assert changes(vms, sorted(zone, key=str)) == []
