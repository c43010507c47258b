"""What every DNS adapter shares: its settings and naming, error translation, and dry-run descriptions.
That the records name the servers as their first boot expects is checked at configuration load
(chalicelib/config_file.py: it holds `[dns]` against the providers' boot options).

An adapter subclasses `ZoneAdapter` and supplies `_list()` (every A/AAAA record of the zone; records of
any other type, known to libcloud or not, are skipped, never an error), `_create`, `_delete`,
`_set_txt`/`_delete_txt` (a TXT record set, for ACME DNS-01) and `_describe()` (for `calls`). SDKs are
imported inside methods: `import app` stays light.
"""

from __future__ import annotations

import re
from typing import ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.config import DnsSettings
from chalicelib.domain.dns import Naming
from chalicelib.ports import DnsError, DnsRecord, ProviderContext

OPERATIONS = ("create", "delete")
#: A TXT set's name relative to the zone ("_acme-challenge", "_acme-challenge.bbb"): DNS labels, no
#: trailing dot, never the apex (whose TXT set holds the zone's SPF and verification strings).
TXT_NAME = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(\.(?!-)[A-Za-z0-9_-]{1,63})*$")
#: A TXT value as ACME writes one (base64url digests): one character-string (<= 255 octets) of
#: printable ASCII without quotes or backslashes, so no provider's quoting rules can change it.
TXT_VALUE = re.compile(r"^[!#-\[\]-~ ]{1,255}$")


class ZoneOptions(BaseModel):
    """Options every DNS driver accepts. `endpoint` points the driver elsewhere than the provider's API
    (a test's loopback fake); empty: the provider's public API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str = Field("", pattern=r"^(https?://[^/\s]+)?$")
    timeout_seconds: float = Field(20.0, gt=0, le=300)


#: The options model of one driver: `ZoneAdapter[GandiOptions]` reads `self.options.api` typed.
OptionsT = TypeVar("OptionsT", bound=ZoneOptions)


class ZoneAdapter(Generic[OptionsT]):
    """Base of the DNS adapters (see module doc). Public surface: the `Dns` port. Generic over its
    options model, which `Options` names for the bootstrap and the loader (they validate `[dns.options]`
    with it; a test holds the two to each other)."""

    Options: ClassVar[type[ZoneOptions]] = ZoneOptions
    driver_name = "zone"

    def __init__(self, settings: DnsSettings, options: OptionsT, context: ProviderContext):
        self.settings, self.options, self.context = settings, options, context
        self.zone = settings.zone
        self.naming = Naming(settings.name, context.cluster)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} zone={self.zone!r}>"

    def secret(self, key: str) -> str:
        """A credential by name; a missing one is an error naming the key, never a value."""
        value = self.context.secret(key)
        if not value:
            raise DnsError(f"dns {self.driver_name}: secret {key} is not set")
        return value

    def endpoint(self, default_host: str) -> tuple[bool, str, int | None]:
        """(secure, host, port) of the API: the configured endpoint, else the provider's over HTTPS."""
        if not self.options.endpoint:
            return True, default_host, None
        parts = urlsplit(self.options.endpoint)
        return parts.scheme == "https", parts.hostname or default_host, parts.port

    def fail(self, what: str, error: Exception) -> DnsError:
        """One line naming the call; query strings and long bodies cut (no credential ever in them)."""
        detail = re.sub(r"\?[^\s'\")]*", "?...", str(getattr(error, "value", "") or error))[:300]
        return DnsError(f"dns {self.driver_name} {what} failed: {type(error).__name__}: {detail}")

    # --- the port -------------------------------------------------------------------------------------
    def records(self) -> list[DnsRecord]:
        """This cluster's A/AAAA records (names the pattern makes from our server names)."""
        return [r for r in self._list() if r.type in ("A", "AAAA") and self.naming.server_of(r.name)]

    def create(self, record: DnsRecord) -> None:
        self._create(record)

    def delete(self, record: DnsRecord) -> None:
        self._delete(record)

    def set_txt(self, name: str, values: list[str], ttl: int = 60) -> None:
        """Make the TXT set `name` hold exactly `values` (an empty list removes it). Bad input is one
        DnsError naming the zone and changes nothing."""
        self._txt_name(name)
        bad = [v for v in values if not isinstance(v, str) or not TXT_VALUE.match(v)]
        if bad or not isinstance(ttl, int) or not 1 <= ttl <= 86400:
            what = f"value {bad[0]!r:.40}" if bad else f"ttl {ttl!r}"
            raise DnsError(
                f"dns {self.driver_name} set TXT {name} in {self.zone}: bad {what} (values are 1-255 "
                "printable ASCII characters without quotes or backslashes; ttl 1-86400)"
            )
        if not values:
            self._delete_txt(name)
            return
        self._set_txt(name, list(dict.fromkeys(values)), ttl)

    def delete_txt(self, name: str) -> None:
        """Remove the TXT set `name`; one already gone is no error."""
        self._txt_name(name)
        self._delete_txt(name)

    def _txt_name(self, name: str) -> None:
        if not isinstance(name, str) or not TXT_NAME.match(name):
            raise DnsError(
                f"dns {self.driver_name} TXT in {self.zone}: bad name {name!r:.80} (relative to the zone, "
                "without a trailing dot, not the apex: e.g. _acme-challenge.bbb)"
            )

    def calls(self, operation: str, records: list[DnsRecord]) -> list[str]:
        if operation not in OPERATIONS:
            raise DnsError(f"unknown operation {operation!r}; choose one of: {', '.join(OPERATIONS)}")
        return [self._describe(operation, record) for record in records]

    # --- for subclasses -------------------------------------------------------------------------------
    def _list(self) -> list[DnsRecord]:
        raise NotImplementedError

    def _create(self, record: DnsRecord) -> None:
        raise NotImplementedError

    def _delete(self, record: DnsRecord) -> None:
        raise NotImplementedError

    def _set_txt(self, name: str, values: list[str], ttl: int) -> None:
        raise NotImplementedError

    def _delete_txt(self, name: str) -> None:
        raise NotImplementedError

    def _describe(self, operation: str, record: DnsRecord) -> str:
        raise NotImplementedError
