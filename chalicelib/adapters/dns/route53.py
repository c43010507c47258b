"""Amazon Route 53 through boto3 (libcloud's Route53 driver speaks an older XML dialect; boto3 is what the
EC2 adapter and the state store already use, and what moto's server answers in the tests).

Changes are UPSERTs (idempotent: a retried tick or a lost answer does no harm) naming every value of the
set, so a set holding two addresses of one name loses or gains only the one asked; a deletion of a set's
last value names the set exactly as Route 53 holds it (its TTL and values). So each change reads first.
A TXT set (ACME's DNS-01 challenge) is answered only once Route 53's own servers all serve it:
`set_txt` waits until the change is INSYNC (GetChange), as certbot's Route 53 plugin does, so the ACME
server is never asked to validate before the answer exists.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pydantic import Field

from chalicelib.adapters.dns.base import ZoneAdapter, ZoneOptions
from chalicelib.ports import Dns, DnsRecord


class Route53Options(ZoneOptions):
    hosted_zone_id: str = Field("", description="the hosted zone's id; empty: looked up by the zone's name")
    region: str = "us-east-1"
    sync_seconds: float = Field(
        120.0, ge=0, le=900, description="set_txt waits this long at most for the change to be INSYNC"
    )


class Route53Dns(ZoneAdapter[Route53Options]):
    """The `Dns` port on a Route 53 public hosted zone (`zone` is its name, e.g. bbb.example.org)."""

    Options = Route53Options
    driver_name = "route53"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._client = None
        self._zone_id = self.options.hosted_zone_id or None

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "route53",
                region_name=self.options.region,
                endpoint_url=self.options.endpoint or None,
                config=Config(
                    connect_timeout=self.options.timeout_seconds,
                    read_timeout=self.options.timeout_seconds,
                    retries={"mode": "standard", "max_attempts": 4},
                ),
            )
        return self._client

    def _call(self, what: str, action: str, **params):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, action)(**params)
        except (ClientError, BotoCoreError) as error:
            raise self.fail(what, error) from None

    @property
    def zone_id(self) -> str:
        if self._zone_id is None:
            found = self._call(
                f"find hosted zone {self.zone}", "list_hosted_zones_by_name", DNSName=self.zone, MaxItems="1"
            )
            zones = [z for z in found.get("HostedZones", []) if z["Name"].rstrip(".") == self.zone]
            if not zones:
                raise self.fail(f"find hosted zone {self.zone}", LookupError("no such hosted zone"))
            self._zone_id = zones[0]["Id"].rsplit("/", 1)[-1]
        return self._zone_id

    def _relative(self, fqdn: str) -> str:
        name = fqdn.rstrip(".")
        return "" if name == self.zone else name.removesuffix("." + self.zone)

    def _fqdn(self, name: str) -> str:
        return f"{name}.{self.zone}." if name else f"{self.zone}."

    def _sets(self, **start) -> list[dict]:
        params = {"HostedZoneId": self.zone_id, **start}
        found = []
        while True:
            page = self._call(f"list records of {self.zone}", "list_resource_record_sets", **params)
            found.extend(page.get("ResourceRecordSets", []))
            if not page.get("IsTruncated") or start:
                return found
            params.update(StartRecordName=page["NextRecordName"], StartRecordType=page["NextRecordType"])

    def _list(self) -> list[DnsRecord]:
        return [
            DnsRecord(self._relative(s["Name"]), s["Type"], value["Value"])
            for s in self._sets()
            if s["Type"] in ("A", "AAAA")
            for value in s.get("ResourceRecords", [])
        ]

    def _change(self, what: str, action: str, record_set: dict) -> str:
        """Send one change; its change id (for GetChange)."""
        answer = self._call(
            what,
            "change_resource_record_sets",
            HostedZoneId=self.zone_id,
            ChangeBatch={
                "Comment": "bbbscale",
                "Changes": [{"Action": action, "ResourceRecordSet": record_set}],
            },
        )
        return str((answer or {}).get("ChangeInfo", {}).get("Id", ""))

    #: How often GetChange is asked while a change is PENDING.
    sync_poll_seconds = 2.0

    def _in_sync(self, what: str, change_id: str, sleep=time.sleep, clock=time.monotonic) -> None:
        """Wait until Route 53's servers all serve the change (PENDING -> INSYNC, usually within 60 s)."""
        deadline = clock() + self.options.sync_seconds
        while change_id:
            status = self._call(what, "get_change", Id=change_id).get("ChangeInfo", {}).get("Status")
            if status == "INSYNC":
                return
            if clock() >= deadline:
                raise self.fail(
                    what,
                    TimeoutError(
                        f"change {change_id} still {status} after {self.options.sync_seconds:.0f} s"
                    ),
                )
            sleep(self.sync_poll_seconds)

    def _held(self, name: str, kind: str) -> dict | None:
        """The record set `name` `kind` exactly as Route 53 holds it (its TTL and values), or None."""
        fqdn = self._fqdn(name)
        found = self._sets(StartRecordName=fqdn, StartRecordType=kind, MaxItems="1")
        return next((s for s in found if s["Name"].lower() == fqdn.lower() and s["Type"] == kind), None)

    def _create(self, record: DnsRecord) -> None:
        # A set holding another address of the name keeps it: this one is added (UPSERT replaces a set
        # whole, so it names every value).
        held = self._held(record.name, record.type)
        values = [v["Value"] for v in (held or {}).get("ResourceRecords", [])]
        if record.address in values:
            return  # a lost answer or a retried tick
        self._change(
            f"create {record.name} {record.type}",
            "UPSERT",
            {
                "Name": self._fqdn(record.name),
                "Type": record.type,
                "TTL": self.settings.ttl,
                "ResourceRecords": [{"Value": v} for v in [*values, record.address]],
            },
        )

    def _delete(self, record: DnsRecord) -> None:
        held = self._held(record.name, record.type)
        values = [v["Value"] for v in (held or {}).get("ResourceRecords", [])]
        if held is None or record.address not in values:
            return  # already gone (a lost answer, a retried tick), or it names another address now
        what = f"delete {record.name} {record.type}"
        if len(values) == 1:  # a DELETE names the set exactly as held (its TTL and values)
            self._change(what, "DELETE", held)
            return
        rest = [{"Value": v} for v in values if v != record.address]
        self._change(what, "UPSERT", {**held, "ResourceRecords": rest})

    def _set_txt(self, name: str, values: list[str], ttl: int) -> None:
        # Route 53 wants each TXT value as a quoted character-string; UPSERT replaces the set whole.
        what = f"set {name} TXT in {self.zone}"
        change = self._change(
            what,
            "UPSERT",
            {
                "Name": self._fqdn(name),
                "Type": "TXT",
                "TTL": ttl,
                "ResourceRecords": [{"Value": f'"{value}"'} for value in values],
            },
        )
        self._in_sync(what, change)

    def _delete_txt(self, name: str) -> None:
        held = self._held(name, "TXT")
        if held:  # a DELETE names the set exactly as held (TTL and values)
            self._change(f"delete {name} TXT in {self.zone}", "DELETE", held)

    def _describe(self, operation: str, record: DnsRecord) -> str:
        zone = self.options.hosted_zone_id or f"<zone id of {self.zone}>"
        action = "UPSERT" if operation == "create" else "DELETE"
        return (
            f"route53 ChangeResourceRecordSets {zone} {action} {self._fqdn(record.name)} {record.type} "
            f"{record.address}" + (f" ttl={self.settings.ttl}" if operation == "create" else "")
        )


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Dns] = Route53Dns
