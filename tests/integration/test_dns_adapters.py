"""The DNS adapters over real HTTP: libcloud's GANDI_LIVE driver against a loopback Gandi LiveDNS, libcloud's
OVH connection (its request signature checked) against a loopback OVH API, and boto3 against moto's
Route 53. Each lists only this cluster's A/AAAA records, creates and deletes idempotently, describes
its calls without making them, and reports a failure as one DnsError line without a credential."""

from __future__ import annotations

from contextlib import contextmanager

import boto3
import pytest

from chalicelib.config import DnsSettings
from chalicelib.ports import DnsError, DnsRecord
from chalicelib.registry import DNS_DRIVERS, resolve
from tests.contract.motoserver import running_moto
from tests.provider_fakes import dns_zones, gandi_livedns
from tests.provider_fakes.context import context
from tests.provider_fakes.dns_zones import DRIVERS, SECRETS, ZONE
from tests.provider_fakes.gandi_livedns import FakeGandiLiveDns
from tests.provider_fakes.ovh_dns import FakeOvhDns

A = DnsRecord("bbbscale-demo-ovh-7", "A", "203.0.113.10")
AAAA = DnsRecord("bbbscale-demo-ovh-7", "AAAA", "2001:db8::7")


def make_dns(driver: str, cluster: str = "demo", secrets=None, zone: str = ZONE, **options):
    settings = DnsSettings(driver=driver, zone=zone, options=options)
    cls = resolve(DNS_DRIVERS, driver, "DNS driver")
    return cls(
        settings,
        cls.Options.model_validate(options),
        context(cluster, **(SECRETS if secrets is None else secrets)),
    )


@contextmanager
def zone_of(driver: str):
    """(the adapter pointed at a loopback zone, the fake's view of that zone)."""
    with dns_zones.zone_of(driver) as (options, fake):
        yield make_dns(driver, **options), fake


@pytest.mark.parametrize("driver", DRIVERS)
def test_create_list_delete_only_our_records(driver):
    with zone_of(driver) as (dns, fake):
        assert dns.records() == []  # the zone's other records (lb, www, NS, SOA) are not ours
        dns.create(A)
        dns.create(AAAA)
        dns.create(A)  # again (a retried tick): no error, no duplicate
        assert sorted(dns.records(), key=lambda r: r.type) == [A, AAAA]
        seen = fake.addresses()
        assert seen[("bbbscale-demo-ovh-7", "A")] == ["203.0.113.10"]
        assert seen[("bbbscale-demo-ovh-7", "AAAA")] == ["2001:db8::7"]
        assert seen[("lb", "A")] == ["198.51.100.1"]
        dns.delete(A)
        dns.delete(A)  # already gone: no error
        assert dns.records() == [AAAA]
        dns.delete(AAAA)
        assert dns.records() == [] and list(fake.addresses()) == [("lb", "A")]


@pytest.mark.parametrize("driver", DRIVERS)
def test_another_clusters_records_are_not_listed(driver):
    with zone_of(driver) as (dns, _):
        theirs = DnsRecord("bbbscale-prod-ovh-3", "A", "203.0.113.30")
        dns.create(theirs)
        assert dns.records() == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_calls_describe_without_calling(driver):
    with zone_of(driver) as (dns, fake):
        before = len(fake.requests) if hasattr(fake, "requests") else None
        create, delete = dns.calls("create", [A]) + dns.calls("delete", [A])
        assert "bbbscale-demo-ovh-7" in create and "203.0.113.10" in create and "A" in create
        assert delete.startswith("DELETE") or " DELETE " in delete
        if before is not None:
            assert len(fake.requests) == before
        with pytest.raises(DnsError, match="unknown operation"):
            dns.calls("update", [A])


def test_gandi_failure_is_one_line_without_the_token():
    with FakeGandiLiveDns() as fake:
        dns = make_dns("gandi_live", endpoint=fake.url)
        fake.fail_next = [503]
        with pytest.raises(DnsError, match="dns gandi_live list records of bbb.example.org failed") as caught:
            dns.records()
        assert gandi_livedns.TOKEN not in str(caught.value)
        with pytest.raises(DnsError, match="secret BBBSCALE_GANDI_TOKEN is not set"):
            make_dns("gandi_live", secrets={}, endpoint=fake.url).records()
        wrong = make_dns("gandi_live", secrets={"BBBSCALE_GANDI_TOKEN": "wrong"}, endpoint=fake.url)
        with pytest.raises(DnsError, match="Forbidden"):
            wrong.records()


def test_gandi_current_api_by_default_and_libclouds_legacy_one_on_request():
    with FakeGandiLiveDns() as fake:
        make_dns("gandi_live", endpoint=fake.url).create(A)
        legacy = make_dns(
            "gandi_live",
            secrets={"BBBSCALE_GANDI_TOKEN": gandi_livedns.API_KEY},
            endpoint=fake.url,
            api="legacy",
        )
        assert legacy.records() == [A]
        assert [(r.method, r.path) for r in fake.requests] == [
            ("POST", "/v5/livedns/domains/bbb.example.org/records"),
            ("GET", "/api/v5/domains/bbb.example.org/records"),
        ]
        assert fake.requests[0].headers["Authorization"] == f"Bearer {gandi_livedns.TOKEN}"
        assert "X-Api-Key" not in fake.requests[0].headers
        assert legacy.calls("delete", [A]) == [
            f"DELETE {fake.url}/api/v5/domains/bbb.example.org/records/bbbscale-demo-ovh-7/A"
        ]


def test_ovh_refuses_a_wrong_secret_and_the_error_holds_no_secret():
    with FakeOvhDns() as fake:
        wrong = {**SECRETS, "BBBSCALE_OVH_APPLICATION_SECRET": "not-the-secret"}
        dns = make_dns("ovh", secrets=wrong, endpoint=fake.url)
        with pytest.raises(DnsError, match="dns ovh export zone bbb.example.org failed") as caught:
            dns.records()
        assert fake.bad_signatures == 1 and "not-the-secret" not in str(caught.value)
        fake.fail_next = [500]
        with pytest.raises(DnsError, match="dns ovh create bbbscale-demo-ovh-7 A failed|find"):
            make_dns("ovh", endpoint=fake.url).create(A)


def test_route53_finds_its_zone_by_name_and_an_unknown_zone_is_an_error():
    with running_moto() as url:
        client = boto3.client("route53", endpoint_url=url, region_name="us-east-1")
        client.create_hosted_zone(Name="by-name.example.org", CallerReference="by-name")
        named = make_dns("route53", zone="by-name.example.org", endpoint=url)
        named.create(A)
        assert named.records() == [A]
        with pytest.raises(DnsError, match="find hosted zone nowhere.example.org failed"):
            make_dns("route53", zone="nowhere.example.org", endpoint=url).records()
