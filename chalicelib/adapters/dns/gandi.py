"""Gandi LiveDNS through libcloud's `GANDI_LIVE` driver: records of a domain at `.../domains/{fqdn}/records`,
one rrset per name and type at `.../records/{name}/{type}`.

libcloud 3.9 speaks the legacy endpoint (dns.api.gandi.net/api/v5, `X-Api-Key`). Gandi's current API is
api.gandi.net/v5/livedns with a personal access token (`Authorization: Bearer`; API keys are deprecated),
so by default the driver's connection is pointed there: same resources and bodies, another base path and
header. `api = "legacy"` keeps libcloud's own.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from chalicelib.adapters.dns.base import ZoneAdapter, ZoneOptions
from chalicelib.config import SecretName
from chalicelib.ports import Dns, DnsRecord

API_HOSTS = {"livedns": "api.gandi.net", "legacy": "dns.api.gandi.net"}
BASES = {"livedns": "/v5/livedns", "legacy": "/api/v5"}


class GandiOptions(ZoneOptions):
    api: Literal["livedns", "legacy"] = Field(
        "livedns", description="api.gandi.net/v5/livedns, or the legacy"
    )
    token_env: SecretName = Field(
        "BBBSCALE_GANDI_TOKEN", description="env/secret name of the personal access token (legacy: API key)"
    )


def _driver_class(api: str):
    """libcloud's GANDI_LIVE driver, its connection moved to the current API unless `api` is legacy."""
    from libcloud.dns.drivers.gandi_live import GandiLiveDNSConnection, GandiLiveDNSDriver

    if api == "legacy":
        return GandiLiveDNSDriver

    class LiveDnsConnection(GandiLiveDNSConnection):
        host = API_HOSTS["livedns"]

        def add_default_headers(self, headers):
            headers = super().add_default_headers(headers)
            del headers["X-Api-Key"]
            headers["Authorization"] = f"Bearer {self.key}"
            return headers

        def morph_action_hook(self, action):
            return super().morph_action_hook(action.replace(BASES["legacy"] + "/", BASES["livedns"] + "/", 1))

    class LiveDnsDriver(GandiLiveDNSDriver):
        connectionCls = LiveDnsConnection

    return LiveDnsDriver


class GandiLiveDns(ZoneAdapter[GandiOptions]):
    """The `Dns` port on a Gandi LiveDNS domain (`zone` is the domain, e.g. bbb.example.org)."""

    Options = GandiOptions
    driver_name = "gandi_live"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._local = threading.local()  # libcloud connections keep per-request state

    @property
    def driver(self):
        driver = getattr(self._local, "driver", None)
        if driver is None:
            secure, host, port = self.endpoint(API_HOSTS[self.options.api])
            cls = _driver_class(self.options.api)
            driver = cls(self.secret(self.options.token_env), secure=secure, host=host, port=port)
            driver.connection.timeout = self.options.timeout_seconds
            self._local.driver = driver
        return driver

    def _zone(self):
        from libcloud.dns.base import Zone

        return Zone(id=self.zone, domain=self.zone, type="master", ttl=0, driver=self.driver)

    def _records_path(self, *rest: str) -> str:
        """libcloud's action path (legacy base; the current API's connection moves it)."""
        from libcloud.dns.drivers.gandi_live import API_BASE

        return "/".join((f"{API_BASE}/domains/{self.zone}/records", *rest))

    def _list(self) -> list[DnsRecord]:
        # Read the rrsets ourselves: libcloud's list_records turns each type into its RecordType enum and
        # fails the whole listing on one it does not know (SVCB, HTTPS, CDS... that a zone may hold).
        try:
            found = self.driver.connection.request(self._records_path(), method="GET").object
        except Exception as error:  # noqa: BLE001 - libcloud raises many unrelated types
            raise self.fail(f"list records of {self.zone}", error) from None
        return [
            DnsRecord(str(rrset.get("rrset_name", "")), str(rrset.get("rrset_type", "")), str(value))
            for rrset in (found if isinstance(found, list) else [])
            if isinstance(rrset, dict) and rrset.get("rrset_type") in ("A", "AAAA")
            for value in rrset.get("rrset_values") or []
        ]

    def _rrset(self, name: str, kind: str) -> dict | None:
        """One rrset as LiveDNS holds it ({rrset_ttl, rrset_values, ...}), or None when there is none."""
        from libcloud.common.gandi_live import ResourceNotFoundError

        try:
            found = self.driver.connection.request(self._records_path(name, kind), method="GET").object
        except ResourceNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001
            raise self.fail(f"read {name} {kind}", error) from None
        return found if isinstance(found, dict) else None

    def _put(self, what: str, name: str, kind: str, values: list[str], ttl: int) -> None:
        try:
            self.driver.connection.request(
                self._records_path(name, kind), method="PUT", data={"rrset_ttl": ttl, "rrset_values": values}
            )
        except Exception as error:  # noqa: BLE001
            raise self.fail(what, error) from None

    def _create(self, record: DnsRecord) -> None:
        from libcloud.dns.types import RecordAlreadyExistsError

        what = f"create {record.name} {record.type}"
        try:
            self.driver.create_record(
                record.name, self._zone(), record.type, record.address, extra={"ttl": self.settings.ttl}
            )
        except RecordAlreadyExistsError:
            # The rrset exists: a lost answer or a retried tick (it holds this address already), or it
            # holds another address of the name, to which this one is added (one rrset, several values).
            held = self._rrset(record.name, record.type) or {}
            values = list(held.get("rrset_values") or [])
            if record.address not in values:
                self._put(what, record.name, record.type, [*values, record.address], self.settings.ttl)
        except Exception as error:  # noqa: BLE001
            raise self.fail(what, error) from None

    def _delete(self, record: DnsRecord) -> None:
        from libcloud.common.gandi_live import ResourceNotFoundError

        # LiveDNS deletes a whole rrset (every value of the name and type): when it holds other addresses
        # too, the rrset is written again without this one.
        what = f"delete {record.name} {record.type}"
        held = self._rrset(record.name, record.type) or {}
        values = list(held.get("rrset_values") or [])
        if record.address not in values:
            return  # already gone (a lost answer, a retried tick)
        if len(values) > 1:
            rest = [v for v in values if v != record.address]
            self._put(what, record.name, record.type, rest, int(held.get("rrset_ttl") or self.settings.ttl))
            return
        try:
            self.driver.connection.request(self._records_path(record.name, record.type), method="DELETE")
        except ResourceNotFoundError:
            return
        except Exception as error:  # noqa: BLE001
            raise self.fail(what, error) from None

    def _set_txt(self, name: str, values: list[str], ttl: int) -> None:
        # PUT on one rrset replaces it whole (or creates it): exactly "hold these values". Gandi refuses a
        # TTL under 300 s; ACME's validation reads the authoritative servers, so the TTL does not delay it.
        self._put(f"set {name} TXT in {self.zone}", name, "TXT", values, max(ttl, 300))

    def _delete_txt(self, name: str) -> None:
        from libcloud.common.gandi_live import ResourceNotFoundError

        try:
            self.driver.connection.request(self._records_path(name, "TXT"), method="DELETE")
        except ResourceNotFoundError:
            return
        except Exception as error:  # noqa: BLE001
            raise self.fail(f"delete {name} TXT in {self.zone}", error) from None

    def _describe(self, operation: str, record: DnsRecord) -> str:
        secure, host, port = self.endpoint(API_HOSTS[self.options.api])
        root = f"{'https' if secure else 'http'}://{host}{f':{port}' if port else ''}"
        base = f"{root}{BASES[self.options.api]}/domains/{self.zone}"
        if operation == "create":
            return f"POST {base}/records {record.name} {record.type} {record.address} ttl={self.settings.ttl}"
        return f"DELETE {base}/records/{record.name}/{record.type}"


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Dns] = GandiLiveDns
