"""The act step for DNS records: each change is written to the history before its call (the intent) and
after it (the outcome), like a VM's REQUESTED record before `create`. A failed call never touches the
server's record: the VM stays tracked, the failure is reported as a `hold` with its reason, and the next
tick's reconciliation (domain/dns.py) asks for the same change again.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.dns import DnsChange, Naming, address_records, public_ips
from chalicelib.domain.fleet import VM
from chalicelib.ports import BbbscaleError, Dns, DnsRecord, HistoryEntry, StateStore
from chalicelib.service.fleet_ports import FleetPorts


def apply_changes(dns: Dns, store: StateStore, changes, now: datetime) -> tuple[list[dict], list[dict]]:
    """Carry out `changes` in order. Returns (one report entry per change, a hold action per failure)."""
    done, holds = [], []
    for change in changes:
        entry = apply_change(dns, store, change, now)
        done.append(entry)
        if entry["result"] != "done":
            holds.append(
                {
                    "action": "hold",
                    "provider": change.provider,
                    "server": change.server,
                    "reason": f"dns: {change.operation} {entry['record']} {entry['result']}; "
                    f"{change.server} stays tracked, retried next tick",
                    "result": "held",
                }
            )
    return done, holds


def apply_change(dns: Dns, store: StateStore, change: DnsChange, now: datetime) -> dict:
    """One change: intent in the history, the call, its outcome in the history and the report entry."""
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
        entry["result"] = f"failed: {error}"
    else:
        entry["result"] = "done"
    store.history.record(HistoryEntry(now, "action", f"{line}: {entry['result']}", {**detail}))
    return entry


def records_for_new_vm(ports: FleetPorts, vm: VM) -> list[DnsChange]:
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
    ports: FleetPorts, server: str, provider: str, known: tuple[DnsRecord, ...] | None
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
