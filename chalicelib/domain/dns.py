"""Per-VM DNS: which A/AAAA records the zone should hold, and the changes that get it there. Pure.

A server's first boot waits until its own name resolves to it, then asks Let's Encrypt for a certificate
(infra/image). So each VM with a public address gets a record named after it, made as soon as the
provider reports the address, and the record goes when its VM does. Reconciled every tick like the VMs:
a record whose VM is gone (an orphan) is deleted, a missing one is made again, one pointing at an old
address is replaced. On doubt (a provider's list failed, the zone could not be read) nothing changes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from chalicelib.domain.fleet import VM

#: Addresses never published: loopback, link-local, private and shared ranges (a VM's private side).
_UNPUBLISHED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)
#: VM states whose record stays (a stopped VM of a power pool keeps its name for its next start).
_KEEPS_NAME = ("pending", "running", "stopped")


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One address record of a server's name: `name` is relative to the zone (`bbbscale-demo-ovh-7`),
    `type` A or AAAA, `address` the VM's public IP."""

    name: str
    type: str
    address: str


@dataclass(frozen=True, slots=True)
class DnsChange:
    """One record to create or delete, for which server and why."""

    operation: str  # create | delete
    record: DnsRecord
    server: str
    provider: str
    reason: str

    def as_json(self) -> dict:
        r = self.record
        return {
            "operation": self.operation,
            "record": f"{r.name} {r.type} {r.address}",
            "server": self.server,
            "provider": self.provider,
            "reason": self.reason,
        }


class Naming:
    """Record names <-> server names: `pattern` holds {server} (e.g. '{server}' or '{server}.bbb'), and
    only names it makes from this cluster's server names (bbbscale-<cluster>-<provider>-<n>) are ours."""

    def __init__(self, pattern: str, cluster: str):
        self.pattern = pattern
        head, _, tail = re.escape(pattern).partition(re.escape("{server}"))
        self._ours = re.compile(f"^{head}(?P<server>bbbscale-{re.escape(cluster)}-[a-z0-9-]+-[0-9]+){tail}$")

    def record_name(self, server: str) -> str:
        return self.pattern.replace("{server}", server)

    def server_of(self, record_name: str) -> str | None:
        """The server a record name belongs to, or None when the name is not one of ours."""
        match = self._ours.match(record_name)
        return match.group("server") if match else None


def address_records(
    name: str, ips: tuple[str, ...], ipv6: bool, held: tuple[DnsRecord, ...] | list[DnsRecord] = ()
) -> list[DnsRecord]:
    """One A record for the VM's public IPv4 address and one AAAA for its public IPv6 address (when
    enabled), never two of one family: a first boot's bbb-install announces one external address to the
    browsers' media (FreeSWITCH, mediasoup, TURN), found from the name itself (`dig +short <name> |
    tail -n1`) where no metadata service names it, so a name holding two addresses would make that pick
    a matter of the resolver's order. The address is the provider's first public one of the family (its
    primary: EC2's PublicIpAddress, libcloud's first public IP), unless the zone already `held` another
    of the VM's addresses for this name: that one stays, so a provider listing the addresses in another
    order never makes the record flap."""
    out = []
    for version, kind in ((4, "A"), (6, "AAAA")):
        if version == 6 and not ipv6:
            continue
        candidates = []
        for text in ips:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if address.version != version or any(
                address in net for net in _UNPUBLISHED if net.version == version
            ):
                continue
            if str(address) not in candidates:
                candidates.append(str(address))
        if not candidates:
            continue
        kept = [c for c in candidates if DnsRecord(name, kind, c) in held]
        out.append(DnsRecord(name, kind, (kept or candidates)[0]))
    return out


def public_ips(vm: VM) -> tuple[str, ...]:
    """The VM's public addresses: as the provider listed them, else its address when that is an IP."""
    if vm.ips:
        return vm.ips
    try:
        return (str(ipaddress.ip_address(vm.address or "")),)
    except ValueError:
        return ()


def provider_of(server: str, cluster: str, providers) -> str | None:
    """The configured provider whose naming `server` follows (the longest name wins: 'ovh-gra' over 'ovh')."""
    for name in sorted(providers, key=len, reverse=True):
        prefix = f"bbbscale-{cluster}-{name}-"
        if server.startswith(prefix) and server[len(prefix) :].isdigit():
            return name
    return None


def dns_changes(
    vms: dict[str, list[VM] | None],
    records: list[DnsRecord] | None,
    naming: Naming,
    cluster: str,
    managed: set[str],
    ipv6: bool = True,
) -> tuple[DnsChange, ...]:
    """The changes that make `records` (this cluster's records in the zone; None: unreadable, so nothing
    is decided) agree with the VMs of the `managed` providers. `vms[p]` None: p's list failed, its records
    are left as they are. Deletions come first (a replaced address frees its name before it is made again)."""
    if records is None:
        return ()
    by_name: dict[str, list[DnsRecord]] = {}
    for record in records:
        by_name.setdefault(record.name, []).append(record)
    deletes: list[DnsChange] = []
    creates: list[DnsChange] = []
    named: set[str] = set()
    for provider in sorted(managed):
        listed = vms.get(provider)
        if listed is None:
            continue
        for vm in listed:
            if vm.status not in _KEEPS_NAME or not vm.name:
                continue
            name = naming.record_name(vm.name)
            named.add(name)
            have = by_name.get(name, [])
            wanted = address_records(name, public_ips(vm), ipv6, have)
            if not wanted:  # no public address yet (or a stopped VM): whatever it has stays
                continue
            for record in have:
                if record not in wanted:
                    deletes.append(
                        DnsChange(
                            "delete", record, vm.name, provider, f"{vm.name} no longer has {record.address}"
                        )
                    )
            for record in wanted:
                if record not in have:
                    creates.append(
                        DnsChange(
                            "create",
                            record,
                            vm.name,
                            provider,
                            f"{vm.name} has {record.address} and no record",
                        )
                    )
    for name, held in sorted(by_name.items()):
        server = naming.server_of(name)
        if name in named or server is None:
            continue
        owner = provider_of(server, cluster, managed)
        if owner is None or vms.get(owner) is None:
            continue  # not a provider we manage, or its list failed this tick: on doubt, keep
        for record in held:
            deletes.append(DnsChange("delete", record, server, owner, f"orphan: no VM {server} any more"))
    return tuple(deletes + creates)
