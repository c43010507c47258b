"""Loopback zones for the DNS adapters' tests: the Gandi LiveDNS and OVH fakes, and moto's Route 53, each
holding records that are not ours: `lb` (A), and records of types libcloud's RecordType does not know or
that the adapters never read (CAA, TLSA, SVCB, HTTPS, the apex TXT with an SPF string), which must never
break a listing nor be touched. With the settings that point an adapter at them and the fake's own view
of the zone (`addresses()`: {(name, type): [values]} of A/AAAA; `txt(name)`: a TXT set's texts)."""

from __future__ import annotations

from contextlib import contextmanager

import boto3

from tests.contract.motoserver import running_moto
from tests.provider_fakes import gandi_livedns, ovh_dns
from tests.provider_fakes.gandi_livedns import FakeGandiLiveDns
from tests.provider_fakes.ovh_dns import FakeOvhDns

ZONE = "bbb.example.org"
#: Records no adapter may list or change: (relative name, type, value as the zone file writes it).
FOREIGN = [
    ("", "TXT", '"v=spf1 a mx ~all"'),
    ("", "CAA", '0 issue "letsencrypt.org"'),
    ("_443._tcp.lb", "TLSA", "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
    ("_svc", "SVCB", "1 lb.bbb.example.org. alpn=h2"),
    ("", "HTTPS", "1 . alpn=h2 ipv4hint=198.51.100.1"),
    ("note", "TXT", '"this A 198.51.100.9 is text"'),
]
DRIVERS = ["gandi_live", "ovh", "route53"]
SECRETS = {
    "BBBSCALE_GANDI_TOKEN": gandi_livedns.TOKEN,
    "BBBSCALE_OVH_APPLICATION_KEY": ovh_dns.APPLICATION_KEY,
    "BBBSCALE_OVH_APPLICATION_SECRET": ovh_dns.APPLICATION_SECRET,
    "BBBSCALE_OVH_CONSUMER_KEY": ovh_dns.CONSUMER_KEY,
}


class Route53Zone:
    """moto's Route 53 with the zone, seen through boto3 (the test's own view of the zone)."""

    def __init__(self, url: str):
        self.url = url
        self.client = boto3.client("route53", endpoint_url=url, region_name="us-east-1")
        created = self.client.create_hosted_zone(Name=ZONE, CallerReference="bbbscale-tests")
        self.zone_id = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
        held = [("lb", "A", "198.51.100.1"), *FOREIGN]
        self.client.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "CREATE",
                        "ResourceRecordSet": {
                            "Name": f"{name}.{ZONE}." if name else f"{ZONE}.",
                            "Type": kind,
                            "TTL": 60,
                            "ResourceRecords": [{"Value": value}],
                        },
                    }
                    for name, kind, value in held
                ]
            },
        )

    def txt(self, name: str) -> list[str]:
        fqdn = f"{name}.{ZONE}."
        sets = self.client.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return sorted(
            v["Value"].strip('"')
            for s in sets
            if s["Name"] == fqdn and s["Type"] == "TXT"
            for v in s["ResourceRecords"]
        )

    def addresses(self):
        sets = self.client.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return {
            (s["Name"].removesuffix(f".{ZONE}."), s["Type"]): [v["Value"] for v in s["ResourceRecords"]]
            for s in sets
            if s["Type"] in ("A", "AAAA")
        }


@contextmanager
def zone_of(driver: str):
    """(the adapter's `[dns] options`, the fake) for a zone holding one record that is not ours."""
    if driver == "gandi_live":
        with FakeGandiLiveDns() as fake:
            fake.rrsets[ZONE][("lb", "A")] = {
                "rrset_name": "lb",
                "rrset_type": "A",
                "rrset_ttl": 300,
                "rrset_values": ["198.51.100.1"],
            }
            for name, kind, value in FOREIGN:
                fake.rrsets[ZONE][(name or "@", kind)] = {
                    "rrset_name": name or "@",
                    "rrset_type": kind,
                    "rrset_ttl": 300,
                    "rrset_values": [value],
                }
            yield {"endpoint": fake.url}, fake
    elif driver == "ovh":
        with FakeOvhDns() as fake:
            fake.records[1] = {
                "id": 1,
                "zone": ZONE,
                "subDomain": "lb",
                "fieldType": "A",
                "target": "198.51.100.1",
                "ttl": 0,
            }
            for number, (name, kind, value) in enumerate(FOREIGN, start=2):
                fake.records[number] = {
                    "id": number,
                    "zone": ZONE,
                    "subDomain": name,
                    "fieldType": kind,
                    "target": value,
                    "ttl": 0,
                }
            yield {"endpoint": fake.url}, fake
            assert fake.bad_signatures == 0 and fake.pending == 0  # every change was refreshed
    else:
        with running_moto() as url:
            # moto keeps its backends per process, across servers: each test names its own zone by id.
            route53 = Route53Zone(url)
            yield {"endpoint": url, "hosted_zone_id": route53.zone_id}, route53
