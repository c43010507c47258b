"""The `[dns]` and `[certificates]` sections: one record per server in a zone the cluster manages
(docs/dns.md), and the fleet's one wildcard certificate (docs/certificates.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from chalicelib.config_strict import Strict


class DnsSettings(Strict):
    """One A (and AAAA) record per server in a zone the cluster manages (docs/dns.md). The record's name
    must be the name the server's first boot waits for: `name` with {server} = the server name, in
    `zone`, i.e. each provider's `boot.domain` (checked at load)."""

    driver: str = Field(description="gandi_live | ovh | route53 (chalicelib.registry.DNS_DRIVERS)")
    zone: str = Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
    name: str = Field(
        "{server}", pattern=r"^[a-z0-9.{}-]+$", description="record name; {server}: server name"
    )
    ttl: int = Field(300, ge=60, le=86400, description="seconds (Gandi LiveDNS refuses less than 300)")
    ipv6: bool = Field(True, description="an AAAA record too when the VM has a public IPv6 address")
    options: dict = Field(default_factory=dict, description="the driver's own: credentials' env names...")

    @field_validator("name")
    @classmethod
    def _one_server(cls, value: str) -> str:
        if (
            value.count("{server}") != 1
            or value.replace("{server}", "").count("{")
            or "}" in value.replace("{server}", "")
        ):
            raise ValueError("name must hold {server} exactly once, e.g. '{server}' or '{server}.bbb'")
        return value


class CertificateSettings(Strict):
    """The fleet's one wildcard certificate, `*.<domain>` (docs/certificates.md): ordered from an ACME CA
    by DNS-01 through `[dns]`, renewed by the capacity check `renew_before_days` before it expires, kept
    in a secret store, and fetched by each server at first boot from `/fleet/certificate`. One name for
    the whole fleet: Let's Encrypt allows 50 certificates per registered domain a week, and a fleet that
    starts tens of VMs a day would be refused within days if each asked for its own."""

    domain: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
        description="the fleet's domain (each provider's boot.domain): the certificate is for *.<domain>",
    )
    directory: str = Field(
        "https://acme-v02.api.letsencrypt.org/directory", description="the ACME CA's directory URL"
    )
    directory_ca: str = Field(
        "", description="CA bundle to verify the directory's HTTPS with (a test CA); empty: the system's"
    )
    email: str = Field("", description="contact address for the ACME account (expiry notices); optional")
    renew_before_days: float = Field(30.0, gt=0, le=80, description="renew this long before expiry")
    retry_hours: float = Field(
        6.0, gt=0, le=168, description="after a failed order, wait this long (doubling) before the next"
    )
    max_retry_hours: float = Field(48.0, gt=0, le=720, description="the longest wait between two orders")
    propagation_seconds: float = Field(
        60.0, ge=0, le=3600, description="wait after setting the challenge's TXT record before answering"
    )
    step_seconds: float = Field(
        15.0, gt=0, le=120, description="time one tick may spend polling the CA: the rest waits a tick"
    )
    order_timeout_minutes: float = Field(
        60.0, gt=0, le=1440, description="an order not finished by then is given up (a failure)"
    )
    store: Literal["file", "secretsmanager", "memory"] = Field(
        "file", description="where the certificate, its key and the ACME account key are kept"
    )
    path: str = Field(
        "/var/lib/bbbscale/certificate.json", description="store file: created 0600 (store file)"
    )
    secret_id: str = Field(
        "",
        description="Secrets Manager secret name (store secretsmanager); empty: <BBBSCALE_SECRETS_PREFIX>"
        "fleet-certificate, the secret the state stack creates (bbbscale/<stage>/fleet-certificate)",
    )
    token_max_seconds: int = Field(
        600, ge=30, le=3600, description="a server's fetch token may expire at most this far ahead"
    )

    @model_validator(mode="after")
    def _waits(self) -> CertificateSettings:
        if self.max_retry_hours < self.retry_hours:
            raise ValueError(
                f"max_retry_hours ({self.max_retry_hours}) below retry_hours ({self.retry_hours})"
            )
        if not self.directory.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("directory must be an https:// URL")
        return self
