"""The act step for DNS records: each change is written to the history before its call (the intent) and
after it (the outcome), like a VM's REQUESTED record before `create`. A failed call never touches the
server's record: the VM stays tracked, the failure is reported as a `hold` with its reason, and the next
tick's reconciliation (domain/dns.py) asks for the same change again.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.decision import Action
from chalicelib.domain.dns import DnsChange, Naming, address_records, public_ips
from chalicelib.domain.fleet import VM
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.domain.tick_report import ActionReport, DnsReport
from chalicelib.ports import BbbscaleError, Dns, DnsRecord, HistoryEntry, StateStore
from chalicelib.service.service_ports import DnsPorts


def apply_changes(
    dns: Dns, store: StateStore, changes, now: datetime
) -> tuple[list[DnsReport], list[ActionReport]]:
    """Carry out `changes` in order. Returns (how each change went, a held `hold` per failure)."""
    done, holds = [], []
    for change in changes:
        report = apply_change(dns, store, change, now)
        done.append(report)
        if report.outcome is not Outcome.DONE:
            hold = Action(
                "hold",
                change.provider,
                f"dns: {change.operation} {change.as_json()['record']} {report.result}; "
                f"{change.server} stays tracked, retried next tick",
                server=change.server,
                hold=HoldKind.DNS,
            )
            holds.append(ActionReport.of(hold, Outcome.HELD))
    return done, holds


def apply_change(dns: Dns, store: StateStore, change: DnsChange, now: datetime) -> DnsReport:
    """One change: intent in the history, the call, its outcome in the history and in the report."""
    entry = change.as_json()
    line = f"dns {change.operation} {entry['record']} in {dns.zone}"
    detail = {"dns": entry, "server": change.server}
    store.history.record(HistoryEntry(now, "action", f"{line}: {change.reason}", {**detail, "intent": True}))
    try:
        if change.operation == "create":
            dns.create(change.record)
        else:
            dns.delete(change.record)
    except BbbscaleError as error:
        report = DnsReport(change, Outcome.FAILED, str(error))
    else:
        report = DnsReport(change, Outcome.DONE)
    outcome = {"dns": {**entry, "result": report.result}, "server": change.server}
    store.history.record(HistoryEntry(now, "action", f"{line}: {report.result}", outcome))
    return report


def records_for_new_vm(ports: DnsPorts, vm: VM) -> list[DnsChange]:
    """The records of a VM just created, when the provider already reported its address (else the next
    tick's reconciliation makes them as soon as it does)."""
    if ports.settings.dns is None or ports.dns is None:
        return []
    name = Naming(ports.settings.dns.name, ports.settings.cluster).record_name(vm.name)
    return [
        DnsChange("create", record, vm.name, vm.provider, f"{vm.name} created with address {record.address}")
        for record in address_records(name, public_ips(vm), ports.settings.dns.ipv6)
    ]


def records_of_gone_vm(
    ports: DnsPorts, server: str, provider: str, known: tuple[DnsRecord, ...] | None
) -> list[DnsChange]:
    """The records (as observed this tick) of a server whose VM was just destroyed."""
    if ports.settings.dns is None or not known:
        return []
    name = Naming(ports.settings.dns.name, ports.settings.cluster).record_name(server)
    return [
        DnsChange("delete", record, server, provider, f"{server}'s VM was destroyed")
        for record in known
        if record.name == name
    ]
