"""The fleet's wildcard certificate: what is kept of it, and when to order, wait or give up. Pure.

One certificate for `*.<fleet domain>` serves every server (Let's Encrypt issues at most 50 certificates
per registered domain a week: a fleet starting tens of VMs a day cannot ask per VM). The capacity check
looks at it each tick (`next_step`: no I/O, so it costs nothing) and acts only when a step is due: an
order 30 days before expiry, at most one order per `retry_hours`, doubling the wait after each failure.
An order spans ticks (DNS-01: set the TXT record, wait for it to propagate, answer, finalize) so a tick
never blocks on DNS propagation and scaling goes on meanwhile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the settings model brings pydantic, which `import app` avoids
    from chalicelib.config import CertificateSettings


@dataclass(frozen=True, slots=True)
class FleetCertificate:
    """The issued certificate: `domain` is "*.<fleet domain>", `fullchain` the PEM chain (leaf first),
    `privkey` its PEM key (a secret: never in a repr, a log or an error)."""

    domain: str
    fullchain: str = field(repr=False)
    privkey: str = field(repr=False)
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, slots=True)
class AcmeAccount:
    """The ACME account: its key (a JWK as JSON: a secret) and URL, at the CA of `directory`."""

    directory: str
    uri: str
    key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """An order under way: the CA's order document (JSON, to resume it next tick), the new certificate's
    key (a secret), the DNS-01 record to publish (`record`: relative to the zone; `values`), and when it
    started, when its TXT record was set and whether the challenge was answered."""

    order: str = field(repr=False)
    key: str = field(repr=False)
    record: str
    values: tuple[str, ...]
    started_at: datetime
    txt_set_at: datetime | None = None
    answered: bool = False


@dataclass(frozen=True, slots=True)
class Renewal:
    """The order history the next decision needs: when the last order started, the failures in a row
    since the last success and the last error (one line, never a secret)."""

    last_order_at: datetime | None = None
    failures: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class CertificateVault:
    """Everything the secret store keeps, as one typed record read and written whole."""

    certificate: FleetCertificate | None = None
    account: AcmeAccount | None = None
    pending: PendingOrder | None = None
    renewal: Renewal = Renewal()

    def to_json(self) -> str:
        return json.dumps(
            {
                "certificate": _plain(self.certificate),
                "account": _plain(self.account),
                "pending": _plain(self.pending),
                "renewal": _plain(self.renewal),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> CertificateVault:
        document = json.loads(text)
        cert, account, pending = (document.get(k) for k in ("certificate", "account", "pending"))
        renewal = document.get("renewal") or {}
        return cls(
            certificate=FleetCertificate(**_dates(cert, "not_before", "not_after")) if cert else None,
            account=AcmeAccount(**account) if account else None,
            pending=(
                replace(
                    PendingOrder(**_dates(pending, "started_at", "txt_set_at")),
                    values=tuple(pending["values"]),
                )
                if pending
                else None
            ),
            renewal=Renewal(**_dates(renewal, "last_order_at")),
        )


def _plain(value) -> dict | None:
    if value is None:
        return None
    out = {}
    for name in value.__slots__:
        item = getattr(value, name)
        out[name] = item.isoformat() if isinstance(item, datetime) else item
    return out


def _dates(document: dict, *names: str) -> dict:
    return {k: (datetime.fromisoformat(v) if k in names and v else v) for k, v in document.items()}


class Step(StrEnum):
    """What the capacity check does about the certificate this tick."""

    NONE = "none"  # valid and not due: nothing to do
    HOLD = "hold"  # due, but an order is not allowed yet (the last one was too recent, or failed)
    ORDER = "order"  # start a new order
    WAIT = "wait"  # an order's TXT record is propagating
    COMPLETE = "complete"  # answer the challenge / poll the order / download the certificate
    ABANDON = "abandon"  # an order ran past its time: give it up (a failure)


@dataclass(frozen=True, slots=True)
class Verdict:
    step: Step
    reason: str


def wildcard(domain: str) -> str:
    return f"*.{domain}"


def next_order_at(renewal: Renewal, settings: CertificateSettings) -> datetime | None:
    """The earliest start of the next order: `retry_hours` after the last one, doubled for each failure
    in a row past the first, at most `max_retry_hours`."""
    if renewal.last_order_at is None:
        return None
    hours = min(settings.retry_hours * 2 ** max(renewal.failures - 1, 0), settings.max_retry_hours)
    return renewal.last_order_at + timedelta(hours=hours)


def next_step(vault: CertificateVault, settings: CertificateSettings, now: datetime) -> Verdict:
    """What to do now about the fleet's certificate, with the reason in words."""
    name = wildcard(settings.domain)
    pending = vault.pending
    if pending is not None:
        if now - pending.started_at > timedelta(minutes=settings.order_timeout_minutes):
            return Verdict(
                Step.ABANDON,
                f"the order for {name} started at {_at(pending.started_at)} is not done after "
                f"{settings.order_timeout_minutes:g} min: given up",
            )
        if pending.txt_set_at is None:
            return Verdict(Step.COMPLETE, f"the order for {name} has no TXT record yet: setting it")
        ready = pending.txt_set_at + timedelta(seconds=settings.propagation_seconds)
        if not pending.answered and now < ready:
            return Verdict(
                Step.WAIT,
                f"TXT record {pending.record} set at {_at(pending.txt_set_at)}: answering the challenge "
                f"after {settings.propagation_seconds:g} s of propagation",
            )
        return Verdict(Step.COMPLETE, f"completing the order for {name}")
    cert = vault.certificate
    renew_at = cert.not_after - timedelta(days=settings.renew_before_days) if cert else None
    if cert is None:
        due = f"no certificate for {name} yet"
    elif cert.domain != name:
        due = f"the kept certificate is for {cert.domain}, the fleet's domain is now {name}"
    elif renew_at is not None and now < renew_at:
        return Verdict(
            Step.NONE, f"certificate {name} valid until {_at(cert.not_after)}; renewal from {_at(renew_at)}"
        )
    else:
        days = (cert.not_after - now).total_seconds() / 86400
        due = (
            f"certificate {name} expires at {_at(cert.not_after)}, in {days:.1f} days "
            f"(renewed {settings.renew_before_days:g} days before)"
        )
    earliest = next_order_at(vault.renewal, settings)
    if earliest is not None and now < earliest:
        last = vault.renewal
        why = (
            f"the last {last.failures} order(s) failed ({last.last_error})"
            if last.failures
            else f"an order started at {_at(last.last_order_at)}"
        )
        return Verdict(Step.HOLD, f"{due}; {why}: the next order not before {_at(earliest)}")
    return Verdict(Step.ORDER, f"{due}: ordering")


def _at(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "-"
