"""A public IP per VM on a CloudStack isolated network (option `public_ip = "static_nat"`).

On an isolated network a VM only has a private address behind the network's virtual router (source
NAT for its outbound traffic). A BBB server must be reached directly: HTTPS, and WebRTC media on UDP
16384-32768 from every participant. So each server gets its own public IP: `associateIpAddress` on the
network, `enableStaticNat` to the VM (all ports of that IP go to the VM, outbound traffic leaves with
it), and one `createFirewallRule` per opened range (the virtual router drops the rest). The IP is
tagged like the VM plus `bbbscale:vm=<id>`, so it is found again to be released — on destroy, on a
failed create, or when a tick finds it without its VM. `disassociateIpAddress` releases it, and
CloudStack removes its static NAT and firewall rules with it.

Egress rules are the network's, shared by all its VMs: not made here (see docs/providers/cloudstack.md).
libcloud's CloudStack driver has calls for addresses and firewall rules but none for static NAT: those
two commands go through the driver's own signed request (`_sync_request` / `_async_request`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, NoReturn

from chalicelib.adapters.providers.base import TAG_CLUSTER, TAG_PROVIDER
from chalicelib.adapters.providers.libcloud_common import LibcloudProvider
from chalicelib.ports import ProviderError

log = logging.getLogger("bbbscale.providers")

TAG_VM = "bbbscale:vm"
RULE = re.compile(r"^(tcp|udp):(\d{1,5})(?:-(\d{1,5}))?$")


def parse_rule(rule: str) -> tuple[str, int, int]:
    """`udp:16384-32768` -> ("udp", 16384, 32768); `tcp:443` -> ("tcp", 443, 443)."""
    match = RULE.match(rule)
    if not match:
        raise ValueError(f"firewall rule {rule!r}: write protocol:port or protocol:first-last (tcp|udp)")
    first = int(match[2])
    last = int(match[3] or first)
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"firewall rule {rule!r}: ports must be 1-65535, first <= last")
    return match[1], first, last


class StaticNat:
    """Public IPs of one CloudStack provider's VMs. `provider` is the CloudStackProvider (its driver,
    `call`, options, tags); every call goes through `provider.call` (errors, retries). Typed as the
    libcloud base: cloudstack.py imports this module, so naming CloudStackOptions here would be a cycle."""

    def __init__(self, provider: LibcloudProvider[Any]):
        self.provider = provider
        self._lock = threading.Lock()

    @property
    def driver(self) -> Any:
        return self.provider.driver

    def attach(self, node: Any, name: str, network: Any, zone: Any) -> str:
        """Give `node` its own public IP (on `network` of `zone`) with static NAT and the ingress rules;
        returns the address. The steps after the association act on our own IP: a repeat (after a
        lost answer) can at worst be refused. On any failure the IP is released and the error raised:
        the caller destroys the VM."""
        opts, call = self.provider.options, self.provider.call
        address, job = self._associate(network, zone, name)
        try:
            done = self._wait(job, f"associateIpAddress {name}")
            tags = {**self.provider.base_tags(), TAG_VM: str(node.id), "Name": name}
            call(f"createTags ip {name}", self.driver.ex_create_tags, [address.id], "PublicIpAddress", tags)
            call(
                f"enableStaticNat {name}",
                self.driver._sync_request,
                command="enableStaticNat",
                params={"ipaddressid": address.id, "virtualmachineid": node.id, "networkid": network.id},
                method="GET",
            )
            for rule in opts.ingress:
                protocol, first, last = parse_rule(rule)
                call(
                    f"createFirewallRule {name} {rule}",
                    self.driver.ex_create_firewall_rule,
                    address,
                    opts.ingress_cidr,
                    protocol,
                    start_port=first,
                    end_port=last,
                )
            return (done.get("ipaddress") or {}).get("ipaddress") or self._address_of(address.id)
        except ProviderError as error:
            self._release(address.id, name, error)

    def _address_of(self, ip_id: str) -> str:
        found = self.provider.call(
            f"listPublicIpAddresses id={ip_id}",
            self.driver._sync_request,
            command="listPublicIpAddresses",
            params={"id": ip_id},
            method="GET",
        )
        for ip in found.get("publicipaddress", []):
            if ip["id"] == ip_id:
                return ip["ipaddress"]
        raise ProviderError(f"cloudstack: public IP {ip_id} not found right after its association")

    def _associate(self, network: Any, zone: Any, name: str) -> tuple[Any, str]:
        """associateIpAddress, without waiting for its job: (the address, its job id). The first answer
        already holds the IP's id, so a fault while the job is polled can still release it (libcloud's
        ex_allocate_public_ip polls first and would lose the id). If the first answer itself is lost,
        the IP that appeared meanwhile on the network, untagged, is ours: associations are serialised
        in this process (and one bbbscale acts at a time, the lease), so it is released."""
        from libcloud.compute.drivers.cloudstack import CloudStackAddress

        with self._lock:
            before = {ip["id"] for ip in self._listed()}
            try:
                started = self.provider.call(
                    f"associateIpAddress {name}",
                    self.driver._sync_request,
                    command="associateIpAddress",
                    params={"networkid": network.id, "zoneid": zone.id},
                    method="GET",
                    idempotent=False,
                )
            except ProviderError as error:
                if not error.retryable:  # refused, or carried out with its answer lost
                    try:
                        for ip in self._listed():
                            new = ip["id"] not in before and not ip.get("tags")
                            if new and ip.get("associatednetworkid") == network.id:
                                self._disassociate(ip["id"])
                    except ProviderError as cleanup:
                        raise ProviderError(
                            f"{error}; looking for the IP it may have made failed: {cleanup}"
                        ) from None
                raise
        return CloudStackAddress(started["id"], None, self.driver), started["jobid"]

    def _wait(self, job_id: str, what: str) -> dict:
        """Poll an async job until it ends; its result, or a ProviderError with CloudStack's error."""
        interval = self.provider.options.poll_interval_seconds
        limit = max(self.provider.options.timeout_seconds, 600)
        deadline = time.monotonic() + limit
        while True:
            job = self.provider.call(
                f"queryAsyncJobResult {what}",
                self.driver._sync_request,
                command="queryAsyncJobResult",
                params={"jobid": job_id},
                method="GET",
            )
            if job.get("jobstatus") == 1:
                return job.get("jobresult") or {}
            if job.get("jobstatus") == 2:
                text = (job.get("jobresult") or {}).get("errortext", "job failed")
                raise ProviderError(f"cloudstack {what} failed: {text}")
            if time.monotonic() > deadline:
                raise ProviderError(f"cloudstack {what}: job {job_id} still running after {limit:.0f} s")
            time.sleep(interval)

    def _release(self, ip_id: str, name: str, error: ProviderError) -> NoReturn:
        try:
            self._disassociate(ip_id)
        except ProviderError as cleanup:
            raise ProviderError(f"{error}; releasing the public IP of {name} failed too: {cleanup}") from None
        raise error

    def _disassociate(self, ip_id: str) -> None:
        from libcloud.compute.drivers.cloudstack import CloudStackAddress

        self.provider.call(
            f"disassociateIpAddress {ip_id}",
            self.driver.ex_release_public_ip,
            CloudStackAddress(ip_id, None, self.driver),
            missing_ok=True,
        )

    def _listed(self) -> list[dict]:
        found = self.provider.call(
            "listPublicIpAddresses", self.driver._sync_request, command="listPublicIpAddresses", method="GET"
        )
        return found.get("publicipaddress", [])

    def _ours(self) -> list[dict]:
        """This cluster's public IPs of this provider, as listPublicIpAddresses reports them."""
        mine = []
        for ip in self._listed():
            tags = {t["key"]: t["value"] for t in ip.get("tags", [])}
            if (
                tags.get(TAG_CLUSTER) == self.provider.context.cluster
                and tags.get(TAG_PROVIDER) == self.provider.name
            ):
                mine.append({**ip, "_tags": tags})
        return mine

    def release(self, vm_id: str) -> None:
        """Release the public IPs of VM `vm_id` (by tag, or by the VM static NAT points to)."""
        for ip in self._ours():
            if ip["_tags"].get(TAG_VM) == vm_id or ip.get("virtualmachineid") == vm_id:
                self._disassociate(ip["id"])

    def orphans(self, live_vm_ids: set[str]) -> list[str]:
        """Release our IPs whose VM is gone (a create killed half-way, a destroy cut short); returns
        the addresses released."""
        released = []
        for ip in self._ours():
            if ip["_tags"].get(TAG_VM) not in live_vm_ids and ip.get("virtualmachineid") not in live_vm_ids:
                log.warning(
                    "provider %s: releasing public IP %s, its VM is gone", self.provider.name, ip["ipaddress"]
                )
                self._disassociate(ip["id"])
                released.append(ip["ipaddress"])
        return released
