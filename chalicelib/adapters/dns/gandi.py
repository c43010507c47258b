"""Gandi LiveDNS through libcloud's `GANDI_LIVE` driver (REST v5 at dns.api.gandi.net/api/v5: records of
a domain at `/domains/{fqdn}/records`, one rrset per name and type at `.../records/{name}/{type}`).

Authentication is libcloud's: the `X-Api-Key` header with the account's API key (Gandi also issues
personal access tokens for `Authorization: Bearer`, which libcloud 3.9 does not send).
"""

from __future__ import annotations

import threading

from pydantic import Field

from chalicelib.adapters.dns.base import ZoneAdapter, ZoneOptions
from chalicelib.ports import DnsRecord

API_HOST = "dns.api.gandi.net"


class GandiOptions(ZoneOptions):
    api_key_env: str = Field("BBBSCALE_GANDI_API_KEY", description="env/secret name of the LiveDNS API key")


class GandiLiveDns(ZoneAdapter):
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
            from libcloud.dns.providers import get_driver
            from libcloud.dns.types import Provider

            secure, host, port = self.endpoint(API_HOST)
            cls = get_driver(Provider.GANDI_LIVE)
            driver = cls(self.secret(self.options.api_key_env), secure=secure, host=host, port=port)
            driver.connection.timeout = self.options.timeout_seconds
            self._local.driver = driver
        return driver

    def _zone(self):
        from libcloud.dns.base import Zone

        return Zone(id=self.zone, domain=self.zone, type="master", ttl=0, driver=self.driver)

    def _list(self) -> list[DnsRecord]:
        try:
            found = self.driver.list_records(self._zone())
        except Exception as error:  # noqa: BLE001 - libcloud raises many unrelated types
            raise self.fail(f"list records of {self.zone}", error) from None
        return [DnsRecord(r.name, str(r.type), str(r.data)) for r in found]

    def _create(self, record: DnsRecord) -> None:
        from libcloud.dns.types import RecordAlreadyExistsError

        try:
            self.driver.create_record(
                record.name, self._zone(), record.type, record.address, extra={"ttl": self.settings.ttl}
            )
        except RecordAlreadyExistsError:
            # The rrset exists (a lost answer, a retried tick): fine if it already holds this address.
            if record not in self._list():
                raise self.fail(
                    f"create {record.name} {record.type}", RuntimeError("another value exists")
                ) from None
        except Exception as error:  # noqa: BLE001
            raise self.fail(f"create {record.name} {record.type}", error) from None

    def _delete(self, record: DnsRecord) -> None:
        from libcloud.dns.base import Record
        from libcloud.dns.types import RecordDoesNotExistError

        # LiveDNS deletes a whole rrset (every value of the name and type): ours hold one address.
        target = Record(
            id=f"{record.type}:{record.name}",
            name=record.name,
            type=record.type,
            data=record.address,
            zone=self._zone(),
            driver=self.driver,
        )
        try:
            self.driver.delete_record(target)
        except RecordDoesNotExistError:
            return
        except Exception as error:  # noqa: BLE001
            raise self.fail(f"delete {record.name} {record.type}", error) from None

    def _describe(self, operation: str, record: DnsRecord) -> str:
        secure, host, port = self.endpoint(API_HOST)
        base = (
            f"{'https' if secure else 'http'}://{host}{f':{port}' if port else ''}/api/v5/domains/{self.zone}"
        )
        if operation == "create":
            return f"POST {base}/records {record.name} {record.type} {record.address} ttl={self.settings.ttl}"
        return f"DELETE {base}/records/{record.name}/{record.type}"
