"""Keeping the fleet's wildcard certificate issued and fresh: the capacity check's certificate step.

Each tick asks `domain/certificate.next_step` (no I/O beyond reading the vault) and acts only when a step
is due: an order (account, new order, the DNS-01 TXT record set through the `Dns` port), then, a tick or
more later once the record has propagated, the completion (answer, poll, finalize, download within
`step_seconds`), then the TXT record removed. Every step is written to the history with its reason, the
intent before the call. Nothing here can stop a tick: a failure becomes a `hold` (kind `certificate`)
naming the error and the next attempt, and scaling goes on. The order's start is saved before the CA is
called, so a crash or a lost lease never makes two orders within `retry_hours`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.credentials import mask_credentials
from chalicelib.domain.certificate import (
    CertificateVault,
    FleetCertificate,
    PendingOrder,
    Renewal,
    Step,
    Verdict,
    next_order_at,
    next_step,
    wildcard,
)
from chalicelib.ports import (
    BbbscaleError,
    CertificateAuthority,
    CertificateStore,
    Dns,
    HistoryEntry,
    HistoryLog,
)

if TYPE_CHECKING:
    from chalicelib.config import CertificateSettings

log = logging.getLogger("bbbscale.certificates")


@dataclass(frozen=True, slots=True)
class CertificateOutcome:
    """What the certificate step did this tick: `note` (one line for the tick's report, None when there
    is nothing to say) and `hold` (the reason of a failure: the tick reports it as a `hold`)."""

    step: Step
    note: str | None = None
    hold: str | None = None


class CertificateKeeper:
    """The certificate step of the capacity check, over the ports it takes."""

    def __init__(
        self,
        settings: CertificateSettings,
        store: CertificateStore,
        authority: CertificateAuthority,
        dns: Dns | None,
        history: HistoryLog,
    ):
        self.settings, self.store, self.authority = settings, store, authority
        self.dns, self.history = dns, history

    def __repr__(self) -> str:
        return f"CertificateKeeper(domain={self.settings.domain!r})"

    def look(self, now: datetime) -> Verdict:
        """What the step would do now (the dry run says it; nothing is called)."""
        return next_step(self.store.load(), self.settings, now)

    def maintain(self, now: datetime, holds: Callable[[], bool] = lambda: True) -> CertificateOutcome:
        """Take the step due now. Never raises: any failure is a hold with its reason."""
        try:
            vault = self.store.load()
            verdict = next_step(vault, self.settings, now)
            if verdict.step in (Step.NONE, Step.HOLD, Step.WAIT):
                note = None if verdict.step is Step.NONE else f"certificate: {verdict.reason}"
                return CertificateOutcome(verdict.step, note)
            if not holds():
                return CertificateOutcome(verdict.step, "certificate: lease lost, step left to the next tick")
            if verdict.step is Step.ABANDON:
                return self._failed(vault, now, verdict.reason)
            if verdict.step is Step.ORDER:
                vault = self._order(vault, now, verdict.reason)
                if self.settings.propagation_seconds > 0:
                    return CertificateOutcome(Step.ORDER, f"certificate: {verdict.reason}; TXT record set")
            return self._complete(vault, now)
        except BbbscaleError as error:
            return self._failed_safely(now, str(error))
        except Exception as error:  # noqa: BLE001 - a certificate problem never stops scaling
            log.exception("certificate step failed")
            return self._failed_safely(now, f"unexpected {type(error).__name__}")

    # --- steps ----------------------------------------------------------------------------------------
    def _order(self, vault: CertificateVault, now: datetime, reason: str) -> CertificateVault:
        """Start an order: its start saved first (at most one per retry_hours), then the CA, then DNS."""
        zone = self._zone()
        vault = replace(vault, renewal=replace(vault.renewal, last_order_at=now))
        self.store.save(vault)
        self._record(now, f"certificate: {reason}", {"step": "order", "intent": True})
        account = self.authority.account(vault.account)
        pending = self.authority.order(account, self.settings.domain, zone, now)
        vault = replace(vault, account=account, pending=pending)
        self.store.save(vault)  # the order and its key are kept before anything is published
        return self._publish(vault, now)

    def _publish(self, vault: CertificateVault, now: datetime) -> CertificateVault:
        pending = vault.pending
        assert pending is not None
        dns = self._dns()
        dns.set_txt(pending.record, list(pending.values), ttl=60)
        vault = replace(vault, pending=replace(pending, txt_set_at=now))
        self.store.save(vault)
        self._record(
            now,
            f"certificate: DNS-01 record {pending.record} set in {dns.zone} for {wildcard(self.settings.domain)}",
            {"step": "txt", "record": pending.record},
        )
        return vault

    def _complete(self, vault: CertificateVault, now: datetime) -> CertificateOutcome:
        pending = vault.pending
        assert pending is not None
        if pending.txt_set_at is None:  # saved before the record could be set (a crash, a DNS failure)
            vault = self._publish(vault, now)
            if self.settings.propagation_seconds > 0:
                return CertificateOutcome(
                    Step.COMPLETE, "certificate: TXT record set, answering after propagation"
                )
            pending = vault.pending
            assert pending is not None
        if vault.account is None:
            raise BbbscaleError("certificate: an order is kept without its ACME account")
        done = self.authority.complete(vault.account, pending, self.settings.step_seconds)
        if isinstance(done, PendingOrder):
            self.store.save(replace(vault, pending=done))
            if done.answered and not pending.answered:
                self._record(now, "certificate: DNS-01 challenge answered", {"step": "answer"})
            return CertificateOutcome(Step.COMPLETE, "certificate: challenge answered, the CA is validating")
        return self._issued(vault, done, now)

    def _issued(self, vault: CertificateVault, cert: FleetCertificate, now: datetime) -> CertificateOutcome:
        expected = wildcard(self.settings.domain)
        if cert.domain != expected:
            raise BbbscaleError(f"certificate: the CA issued {cert.domain}, not {expected}")
        renewal = Renewal(last_order_at=vault.renewal.last_order_at, failures=0, last_error="")
        self.store.save(replace(vault, certificate=cert, pending=None, renewal=renewal))
        line = (
            f"certificate {expected} issued, valid until {cert.not_after:%Y-%m-%d %H:%M} UTC "
            f"(renewal {self.settings.renew_before_days:g} days before)"
        )
        self._record(now, line, {"step": "issued", "not_after": cert.not_after.isoformat()})
        self._clear_txt(vault.pending, now)
        return CertificateOutcome(Step.COMPLETE, f"certificate: {line}")

    def _failed(self, vault: CertificateVault, now: datetime, error: str) -> CertificateOutcome:
        """Count the failure, drop the order (and its TXT record), say when the next one may start."""
        error = mask_credentials(error)[:300]
        self._clear_txt(vault.pending, now)
        renewal = Renewal(
            last_order_at=vault.renewal.last_order_at or now,
            failures=vault.renewal.failures + 1,
            last_error=error,
        )
        self.store.save(replace(vault, pending=None, renewal=renewal))
        earliest = next_order_at(renewal, self.settings)
        reason = (
            f"certificate {wildcard(self.settings.domain)}: {error}; the next order not before "
            f"{earliest:%Y-%m-%d %H:%M} UTC (failure {renewal.failures} in a row)"
        )
        self._record(now, reason, {"step": "failed", "failures": renewal.failures})
        return CertificateOutcome(Step.ABANDON, hold=reason)

    def _failed_safely(self, now: datetime, error: str) -> CertificateOutcome:
        try:
            return self._failed(self.store.load(), now, error)
        except Exception as again:  # noqa: BLE001 - the store itself fails: say so, keep the tick going
            reason = f"certificate: {mask_credentials(error)[:300]} (and the store: {type(again).__name__})"
            return CertificateOutcome(Step.ABANDON, hold=reason)

    def _clear_txt(self, pending: PendingOrder | None, now: datetime) -> None:
        if pending is None or pending.txt_set_at is None or self.dns is None:
            return
        try:
            self.dns.delete_txt(pending.record)
        except BbbscaleError as error:  # left for the next order's set_txt to replace: not a failure
            self._record(
                now, f"certificate: TXT record {pending.record} not removed: {error}", {"step": "txt"}
            )

    # --- helpers --------------------------------------------------------------------------------------
    def _dns(self) -> Dns:
        if self.dns is None:
            raise BbbscaleError("certificate: [certificates] needs [dns] to answer DNS-01 challenges")
        return self.dns

    def _zone(self) -> str:
        return self._dns().zone

    def _record(self, now: datetime, summary: str, detail: dict) -> None:
        self.history.record(HistoryEntry(now, "certificate", summary, {"certificate": detail}))
