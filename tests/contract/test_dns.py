"""The Dns port's contract, run over each real adapter against its loopback zone (Gandi LiveDNS and OVH
fakes, moto's Route 53; tests/provider_fakes/dns_zones.py) and over the hand-written fake the act step's
unit tests use (tests/unit/test_dns_actuator.py).

What the act step relies on (chalicelib/ports.py, service/actuator.py): `records` lists this cluster's
A/AAAA records and nothing else of the zone; `create` of a record already there is no error and makes no
duplicate (a retried tick); `delete` of a record already gone is no error; `calls` describes one line per
record and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.config import DnsSettings
from chalicelib.ports import Dns, DnsRecord
from chalicelib.registry import DNS_DRIVERS, resolve
from tests.provider_fakes import dns_zones
from tests.provider_fakes.context import context
from tests.provider_fakes.dns_zones import DRIVERS, SECRETS, ZONE

A = DnsRecord("bbbscale-demo-ovh-7", "A", "203.0.113.10")
AAAA = DnsRecord("bbbscale-demo-ovh-7", "AAAA", "2001:db8::7")
OTHER = DnsRecord("bbbscale-demo-ovh-8", "A", "203.0.113.11")


@contextmanager
def real(driver: str) -> Iterator[Dns]:
    with dns_zones.zone_of(driver) as (options, _):
        cls = resolve(DNS_DRIVERS, driver, "DNS driver")
        yield cls(
            DnsSettings(driver=driver, zone=ZONE, options=options),
            cls.Options.model_validate(options),
            context("demo", **SECRETS),
        )


@contextmanager
def fake() -> Iterator[Dns]:
    from tests.unit.test_dns_actuator import FakeDns

    yield FakeDns(MemoryStateStore(cluster="demo"))


@pytest.fixture(params=[*DRIVERS, "fake"])
def dns(request) -> Dns:
    with fake() if request.param == "fake" else real(request.param) as opened:
        yield opened


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


def test_calls_describe_one_line_per_record_and_change_nothing(dns):
    dns.create(A)
    lines = dns.calls("delete", [A, OTHER])
    assert len(lines) == 2 and all(isinstance(line, str) and line for line in lines)
    assert dns.records() == [A]
