"""OVHcloud DNS zones through OVH's API (`/1.0/domain/zone/{zone}/...`), signed by libcloud's OVH connection
(libcloud has OVH compute drivers but no OVH DNS driver; the connection does OVH's signature: headers
X-Ovh-Application, X-Ovh-Consumer, X-Ovh-Timestamp and X-Ovh-Signature = "$1$" + SHA1 of
application secret + consumer key + method + URL + body + timestamp).

Reading is one call (`GET .../export`, the zone in BIND format); a change is a record call followed by
`POST .../refresh`, which is what makes OVH serve the changed zone.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

from pydantic import Field

from chalicelib.adapters.dns.base import ZoneAdapter, ZoneOptions
from chalicelib.config import SecretName
from chalicelib.ports import Dns, DnsRecord

API_HOSTS = {"ovh-eu": "eu.api.ovh.com", "ovh-ca": "ca.api.ovh.com", "ovh-us": "api.us.ovhcloud.com"}


class OvhOptions(ZoneOptions):
    api: str = Field("ovh-eu", pattern="^(ovh-eu|ovh-ca|ovh-us)$", description="which OVH API")
    application_key_env: SecretName = "BBBSCALE_OVH_APPLICATION_KEY"
    application_secret_env: SecretName = "BBBSCALE_OVH_APPLICATION_SECRET"
    consumer_key_env: SecretName = "BBBSCALE_OVH_CONSUMER_KEY"


def _connection_class():
    from libcloud.common.base import Connection
    from libcloud.common.ovh import OvhConnection

    class ZoneConnection(OvhConnection):
        """libcloud's OVH connection, its clock offset read from the configured host (libcloud's own
        get_timestamp always asks https://<host>:443, whatever port the connection uses)."""

        def get_timestamp(self):
            if self._timedelta is None:
                answer = Connection.request(self, "/1.0/auth/time", method="GET")  # unsigned, as OVH wants
                self._timedelta = int(answer.object) - int(time.time())
            return int(time.time()) + self._timedelta

    return ZoneConnection


def parse_export(text: str, zone: str) -> list[DnsRecord]:
    """A/AAAA records of a BIND zone as OVH exports it (`name [ttl] [IN] TYPE data`; a line starting with
    blanks continues the previous name). Names are made relative to the zone. The type is the first word
    after the name, TTL and class, so a record of any other type (CAA, TLSA, SVCB, HTTPS, or a TXT whose
    text holds the word "A") is skipped, never misread."""
    found, last = [], "@"
    for line in text.splitlines():
        body = line.split(";", 1)[0]
        words = body.split()
        if not words or words[0].startswith("$"):
            continue
        if not body[0].isspace():
            last, words = words[0], words[1:]
        while words and (words[0].isdigit() or words[0].upper() in ("IN", "CH", "HS")):
            words = words[1:]  # TTL and class, in either order
        if len(words) >= 2 and words[0].upper() in ("A", "AAAA"):
            name = last.rstrip(".")
            if name.endswith("." + zone):
                name = name[: -len(zone) - 1]
            found.append(DnsRecord("" if name in ("@", zone) else name, words[0].upper(), words[1]))
    return found


class OvhDns(ZoneAdapter[OvhOptions]):
    """The `Dns` port on an OVHcloud DNS zone (`zone` is the zone name, e.g. bbb.example.org)."""

    Options = OvhOptions
    driver_name = "ovh"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    @property
    def connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            o = self.options
            secure, host, port = self.endpoint(API_HOSTS[o.api])
            connection = _connection_class()(
                self.secret(o.application_key_env),
                self.secret(o.application_secret_env),
                secure=secure,
                host=host,
                port=port,
                timeout=o.timeout_seconds,
                ex_consumer_key=self.secret(o.consumer_key_env),
            )
            connection.host = host  # OvhConnection derives its host from a region; ours is configured
            self._local.connection = connection
        return connection

    def _call(self, what: str, method: str, path: str, data=None, params=None):
        try:
            answer = self.connection.request(
                f"/1.0/domain/zone/{self.zone}{path}", method=method, data=data, params=params
            )
        except Exception as error:  # noqa: BLE001 - libcloud raises many unrelated types
            raise self.fail(what, error) from None
        if answer.status >= 300:
            raise self.fail(what, RuntimeError(f"HTTP {answer.status}: {answer.body}"))
        return answer.object

    def _list(self) -> list[DnsRecord]:
        exported = self._call(f"export zone {self.zone}", "GET", "/export")
        return parse_export(exported if isinstance(exported, str) else json.dumps(exported), self.zone)

    def _ids(self, record: DnsRecord) -> list[int]:
        ids = self._call(
            f"find {record.name} {record.type}",
            "GET",
            "/record",
            params={"fieldType": record.type, "subDomain": record.name},
        )
        matching = []
        for record_id in ids or []:
            entry = self._call(f"read record {record_id}", "GET", f"/record/{record_id}")
            if entry.get("target") == record.address:
                matching.append(record_id)
        return matching

    def _create(self, record: DnsRecord) -> None:
        if self._ids(record):  # a lost answer or a retried tick: already there
            return
        body = {
            "fieldType": record.type,
            "subDomain": record.name,
            "target": record.address,
            "ttl": self.settings.ttl,
        }
        self._call(f"create {record.name} {record.type}", "POST", "/record", data=body)
        self._call(f"refresh zone {self.zone}", "POST", "/refresh")

    def _delete(self, record: DnsRecord) -> None:
        ids = self._ids(record)
        for record_id in ids:
            self._call(f"delete {record.name} {record.type}", "DELETE", f"/record/{record_id}")
        if ids:
            self._call(f"refresh zone {self.zone}", "POST", "/refresh")

    def _txt_ids(self, name: str) -> dict[int, str]:
        """{record id: its text} of the TXT set `name` (OVH answers a TXT target in quotes)."""
        ids = self._call(
            f"find {name} TXT in {self.zone}",
            "GET",
            "/record",
            params={"fieldType": "TXT", "subDomain": name},
        )
        held = {}
        for record_id in ids or []:
            entry = self._call(f"read record {record_id}", "GET", f"/record/{record_id}")
            target = str(entry.get("target", ""))
            held[record_id] = target[1:-1] if len(target) > 1 and target[0] == target[-1] == '"' else target
        return held

    def _set_txt(self, name: str, values: list[str], ttl: int) -> None:
        # OVH holds one record per value: remove the values not asked for, add the missing ones.
        held = self._txt_ids(name)
        stale = [record_id for record_id, text in held.items() if text not in values]
        missing = [v for v in values if v not in held.values()]
        for record_id in stale:
            self._call(f"delete {name} TXT in {self.zone}", "DELETE", f"/record/{record_id}")
        for value in missing:
            body = {"fieldType": "TXT", "subDomain": name, "target": value, "ttl": ttl}
            self._call(f"set {name} TXT in {self.zone}", "POST", "/record", data=body)
        if stale or missing:
            self._call(f"refresh zone {self.zone}", "POST", "/refresh")

    def _delete_txt(self, name: str) -> None:
        held = self._txt_ids(name)
        for record_id in held:
            self._call(f"delete {name} TXT in {self.zone}", "DELETE", f"/record/{record_id}")
        if held:
            self._call(f"refresh zone {self.zone}", "POST", "/refresh")

    def _describe(self, operation: str, record: DnsRecord) -> str:
        secure, host, port = self.endpoint(API_HOSTS[self.options.api])
        base = f"{'https' if secure else 'http'}://{host}{f':{port}' if port else ''}/1.0/domain/zone/{self.zone}"
        if operation == "create":
            return (
                f"POST {base}/record {record.name} {record.type} {record.address} ttl={self.settings.ttl}, "
                f"POST {base}/refresh"
            )
        return (
            f"DELETE {base}/record/<id of {record.name} {record.type} {record.address}>, POST {base}/refresh"
        )


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Dns] = OvhDns
