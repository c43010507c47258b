"""TXT sets (ACME DNS-01) and foreign records over real HTTP: each adapter writes a TXT set in its
provider's own form (Gandi: one rrset PUT; OVH: one record per value, then /refresh; Route 53: quoted
character-strings in one UPSERT), never touches a record that is not its own, and lists A/AAAA records
in zones that hold types libcloud does not know (SVCB, HTTPS) or a TXT whose text reads like an A record.
Failures are one DnsError line without a credential."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from libcloud.dns.base import Zone
from libcloud.dns.drivers.gandi_live import GandiLiveDNSDriver

from chalicelib.adapters.dns.ovh import parse_export
from chalicelib.ports import DnsError, DnsRecord
from tests.integration.test_dns_adapters import make_dns, zone_of
from tests.provider_fakes import gandi_livedns, ovh_dns
from tests.provider_fakes.dns_zones import DRIVERS, FOREIGN, SECRETS, ZONE
from tests.provider_fakes.ovh_dns import FakeOvhDns
from tests.provider_fakes.proxy import ForwardingProxy

TOKEN = "k" * 43
A = DnsRecord("bbbscale-demo-ovh-7", "A", "203.0.113.10")


def foreign(driver: str, fake) -> set:
    """What the zone holds apart from our A records and TXT sets, in each fake's own terms."""
    if driver == "gandi_live":
        return {
            (k, tuple(r["rrset_values"])) for k, r in fake.rrsets[ZONE].items() if k[0] != "_acme-challenge"
        }
    if driver == "ovh":
        return {
            (r["subDomain"], r["fieldType"], r["target"])
            for r in fake.records.values()
            if r["fieldType"] != "TXT" or not r["subDomain"].startswith("_acme")
        }
    sets = fake.client.list_resource_record_sets(HostedZoneId=fake.zone_id)["ResourceRecordSets"]
    return {
        (s["Name"], s["Type"], str(s.get("ResourceRecords")))
        for s in sets
        if not s["Name"].startswith("_acme")
    }


@pytest.mark.parametrize("driver", DRIVERS)
def test_txt_sets_leave_every_foreign_record_as_it_was(driver):
    with zone_of(driver) as (dns, fake):
        before = foreign(driver, fake)
        dns.create(A)
        dns.set_txt("_acme-challenge", [TOKEN])
        dns.set_txt("_acme-challenge", [TOKEN, TOKEN.upper()])
        assert fake.txt("_acme-challenge") == sorted([TOKEN, TOKEN.upper()])
        dns.delete_txt("_acme-challenge")
        dns.delete(A)
        assert foreign(driver, fake) == before and fake.txt("_acme-challenge") == []
        assert fake.txt("note") == ["this A 198.51.100.9 is text"]  # a TXT set not ours


@pytest.mark.parametrize("driver", DRIVERS)
def test_listing_skips_types_libcloud_does_not_know(driver):
    with zone_of(driver) as (dns, _):
        assert {kind for _, kind, _ in FOREIGN} >= {"SVCB", "HTTPS", "CAA", "TLSA", "TXT"}
        assert dns.records() == []
        dns.create(A)
        assert dns.records() == [A]


def test_libclouds_own_gandi_listing_fails_on_such_a_zone():
    """Why the Gandi adapter reads rrsets itself: libcloud maps each type to its RecordType enum."""
    with zone_of("gandi_live") as (_, fake):
        port = urlsplit(fake.url).port
        driver = GandiLiveDNSDriver(gandi_livedns.API_KEY, secure=False, host="127.0.0.1", port=port)
        with pytest.raises(AttributeError, match="SVCB|HTTPS"):
            driver.list_records(Zone(id=ZONE, domain=ZONE, type="master", ttl=0, driver=driver))


def test_each_provider_gets_its_own_txt_form():
    with zone_of("gandi_live") as (dns, fake):
        dns.set_txt("_acme-challenge.bbb", [TOKEN], ttl=60)
        put = fake.requests[-1]
        assert (put.method, put.path) == (
            "PUT",
            f"/v5/livedns/domains/{ZONE}/records/_acme-challenge.bbb/TXT",
        )
        assert put.json() == {"rrset_ttl": 300, "rrset_values": [TOKEN]}  # Gandi's minimum TTL
    with zone_of("ovh") as (dns, fake):
        dns.set_txt("_acme-challenge.bbb", [TOKEN], ttl=60)
        dns.set_txt("_acme-challenge.bbb", [TOKEN], ttl=60)  # held already: no change, no refresh
        assert fake.refreshes == 1 and fake.txt("_acme-challenge.bbb") == [TOKEN]
    with zone_of("route53") as (dns, zone):
        dns.set_txt("_acme-challenge.bbb", [TOKEN], ttl=60)
        sets = zone.client.list_resource_record_sets(HostedZoneId=zone.zone_id)["ResourceRecordSets"]
        held = [s for s in sets if s["Type"] == "TXT" and s["Name"].startswith("_acme")]
        assert held == [
            {
                "Name": f"_acme-challenge.bbb.{ZONE}.",
                "Type": "TXT",
                "TTL": 60,
                "ResourceRecords": [{"Value": f'"{TOKEN}"'}],
            }
        ]


def test_a_failed_txt_call_is_one_line_without_a_credential():
    with zone_of("gandi_live") as (dns, fake):
        fake.fail_next = [503]
        with pytest.raises(
            DnsError, match=f"dns gandi_live set _acme-challenge TXT in {ZONE} failed"
        ) as caught:
            dns.set_txt("_acme-challenge", [TOKEN])
        assert gandi_livedns.TOKEN not in str(caught.value)
    with FakeOvhDns() as fake:
        wrong = make_dns("ovh", endpoint=fake.url, secrets={**SECRETS, "BBBSCALE_OVH_CONSUMER_KEY": "nope"})
        with pytest.raises(DnsError, match="find _acme-challenge TXT in") as caught:
            wrong.delete_txt("_acme-challenge")
        assert "nope" not in str(caught.value) and ovh_dns.APPLICATION_SECRET not in str(caught.value)
        assert fake.bad_signatures == 1


def test_ovh_export_parsing_reads_the_type_not_a_word_of_the_text():
    text = "\n".join(
        [
            "$TTL 3600",
            '@\tIN TXT "v=spf1 a mx ~all"',
            'note\t60 IN TXT "this A 198.51.100.9 is text"',
            "srv1\tIN 60 A 203.0.113.1",
            "\t\tIN AAAA 2001:db8::1",
            "srv2.bbb.example.org.\tIN A 203.0.113.2 ; a comment",
            "\t\tIN HTTPS 1 . alpn=h2 ipv4hint=198.51.100.1",
            "_443._tcp.lb\tIN TLSA 3 1 1 abcd",
        ]
    )
    assert parse_export(text, ZONE) == [
        DnsRecord("srv1", "A", "203.0.113.1"),
        DnsRecord("srv1", "AAAA", "2001:db8::1"),
        DnsRecord("srv2", "A", "203.0.113.2"),
    ]


class PendingRoute53(ForwardingProxy):
    """moto's Route 53 behind a proxy that answers the first `pending` GetChange calls PENDING, as Route
    53 does until its servers all serve a change (moto answers INSYNC at once)."""

    def __init__(self, target: str, pending: int):
        super().__init__(target)
        self.pending, self.asked = pending, 0

    def handle(self, request):
        status, headers, body = super().handle(request)
        if request.method == "GET" and "/change/" in request.path:
            self.asked += 1
            if self.pending:
                self.pending -= 1
                body = body.replace(b"INSYNC", b"PENDING")
        return status, headers, body


def test_route53_set_txt_returns_once_the_change_is_in_sync_and_says_when_it_is_not():
    with zone_of("route53") as (_, zone), PendingRoute53(zone.url, pending=2) as proxy:
        dns = make_dns("route53", endpoint=proxy.url, hosted_zone_id=zone.zone_id)
        dns.sync_poll_seconds = 0.01
        dns.set_txt("_acme-challenge", [TOKEN])
        assert proxy.asked == 3 and zone.txt("_acme-challenge") == [TOKEN]  # PENDING, PENDING, INSYNC
        proxy.pending = 1000
        stuck = make_dns("route53", endpoint=proxy.url, hosted_zone_id=zone.zone_id, sync_seconds=0)
        with pytest.raises(
            DnsError, match="set _acme-challenge TXT in bbb.example.org failed: .*still PENDING"
        ):
            stuck.set_txt("_acme-challenge", [TOKEN.upper()])
