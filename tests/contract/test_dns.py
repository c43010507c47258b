"""The Dns port's contract, run over each real adapter against its loopback zone (Gandi LiveDNS and OVH
fakes, moto's Route 53; tests/provider_fakes/dns_zones.py) and over the hand-written fake the act step's
unit tests use (tests/support/fake_dns.py).

What the act step relies on (chalicelib/ports.py, service/actuator.py): `records` lists this cluster's
A/AAAA records and nothing else of the zone (its CAA, TLSA, SVCB, HTTPS and TXT records included);
`create` of a record already there is no error and makes no duplicate (a retried tick); `create` and
`delete` act on one address, even where the provider keeps a set per name and type; `delete` of a
record already gone is no error; `calls` describes one line per record and changes nothing.
What the ACME DNS-01 challenge relies on: `set_txt` makes a TXT set hold exactly the values asked (a
second call replaces them), `delete_txt` removes it (twice is fine), neither touches another record, and
bad input is one DnsError that changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.config import DnsSettings
from chalicelib.ports import Dns, DnsError, DnsRecord
from chalicelib.registry import DNS_DRIVERS, resolve
from tests.provider_fakes import dns_zones
from tests.provider_fakes.context import context
from tests.provider_fakes.dns_zones import DRIVERS, SECRETS, ZONE

A = DnsRecord("bbbscale-demo-ovh-7", "A", "203.0.113.10")
AAAA = DnsRecord("bbbscale-demo-ovh-7", "AAAA", "2001:db8::7")
OTHER = DnsRecord("bbbscale-demo-ovh-8", "A", "203.0.113.11")
A_TOO = DnsRecord("bbbscale-demo-ovh-7", "A", "198.51.100.70")  # a second IPv4 of the same server


#: (the port, a view of the zone: a TXT set's texts by name, as a resolver would hand them to ACME)
Opened = tuple[Dns, Callable[[str], list[str]]]
#: ACME's key authorization digests are 43 base64url characters.
TOKEN_1, TOKEN_2, TOKEN_3 = "x" * 43, "Ab-_" * 10 + "xyz", "0123456789" * 4 + "abc"


@contextmanager
def real(driver: str) -> Iterator[Opened]:
    with dns_zones.zone_of(driver) as (options, zone):
        cls = resolve(DNS_DRIVERS, driver, "DNS driver")
        yield (
            cls(
                DnsSettings(driver=driver, zone=ZONE, options=options),
                cls.Options.model_validate(options),
                context("demo", **SECRETS),
            ),
            zone.txt,
        )


@contextmanager
def fake() -> Iterator[Opened]:
    from tests.support.fake_dns import FakeDns

    dns = FakeDns(MemoryStateStore(cluster="demo"))
    yield dns, lambda name: dns.txt.get(name, [])


@pytest.fixture(params=[*DRIVERS, "fake"])
def opened(request) -> Iterator[Opened]:
    with fake() if request.param == "fake" else real(request.param) as pair:
        yield pair


@pytest.fixture
def dns(opened) -> Dns:
    return opened[0]


def test_it_is_the_dns_port_and_an_untouched_zone_holds_none_of_ours(dns):
    assert isinstance(dns, Dns) and dns.records() == []


def test_create_is_idempotent_and_records_lists_what_was_made(dns):
    dns.create(A)
    dns.create(AAAA)
    dns.create(A)  # a retried tick
    assert sorted(dns.records(), key=lambda r: r.type) == [A, AAAA]


def test_delete_takes_one_record_and_a_second_delete_is_fine(dns):
    dns.create(A)
    dns.create(OTHER)
    dns.delete(A)
    dns.delete(A)
    assert dns.records() == [OTHER]


def test_two_addresses_of_one_name_are_two_records_each_made_and_deleted_alone(dns):
    """Gandi and Route 53 keep one record set per name and type: adding or removing one address keeps
    the other (the decide step publishes one per family, but a zone may hold two, made by hand or by an
    earlier version, and removing the extra must not take the kept one with it)."""
    dns.create(A)
    dns.create(A_TOO)
    dns.create(A_TOO)  # a retried tick
    assert sorted(dns.records(), key=lambda r: r.address) == [A_TOO, A]
    dns.delete(A_TOO)
    assert dns.records() == [A]
    dns.delete(A_TOO)
    dns.create(A_TOO)
    dns.delete(A)
    assert dns.records() == [A_TOO]


def test_calls_describe_one_line_per_record_and_change_nothing(dns):
    dns.create(A)
    lines = dns.calls("delete", [A, OTHER])
    assert len(lines) == 2 and all(isinstance(line, str) and line for line in lines)
    assert dns.records() == [A]


def test_set_txt_holds_exactly_the_values_and_a_second_call_replaces_them(opened):
    dns, txt = opened
    dns.set_txt("_acme-challenge.bbb", [TOKEN_1, TOKEN_2])
    assert txt("_acme-challenge.bbb") == sorted([TOKEN_1, TOKEN_2])
    dns.set_txt("_acme-challenge.bbb", [TOKEN_2, TOKEN_3], ttl=120)  # a renewal's new challenge
    assert txt("_acme-challenge.bbb") == sorted([TOKEN_2, TOKEN_3])
    dns.set_txt("_acme-challenge.bbb", [TOKEN_3])
    dns.set_txt("_acme-challenge.bbb", [TOKEN_3])  # a retried step: same set
    assert txt("_acme-challenge.bbb") == [TOKEN_3]
    assert dns.records() == []  # a TXT set is never one of the servers' records


def test_delete_txt_removes_one_set_and_a_second_delete_is_fine(opened):
    dns, txt = opened
    dns.set_txt("_acme-challenge", [TOKEN_1])
    dns.set_txt("_acme-challenge.bbb", [TOKEN_2])
    dns.create(A)
    dns.delete_txt("_acme-challenge")
    dns.delete_txt("_acme-challenge")
    dns.delete_txt("_acme-challenge.never-set")
    assert txt("_acme-challenge") == [] and txt("_acme-challenge.bbb") == [TOKEN_2]
    assert dns.records() == [A]


@pytest.mark.parametrize(
    "name, values, ttl",
    [
        ("", [TOKEN_1], 60),  # the apex holds the zone's SPF and verification strings
        ("_acme-challenge.bbb.", [TOKEN_1], 60),
        ("_acme-challenge bbb", [TOKEN_1], 60),
        ("_acme-challenge", ['a"b'], 60),
        ("_acme-challenge", ["a\\b"], 60),
        ("_acme-challenge", ["x" * 256], 60),
        ("_acme-challenge", [TOKEN_1], 0),
    ],
)
def test_bad_txt_input_is_one_error_that_changes_nothing(opened, name, values, ttl):
    dns, txt = opened
    dns.set_txt("_acme-challenge", [TOKEN_1])
    with pytest.raises(DnsError) as raised:
        dns.set_txt(name, values, ttl)
    assert "bbb.example.org" in str(raised.value)
    assert txt("_acme-challenge") == [TOKEN_1]
