"""Apache CloudStack through apache-libcloud (kind `cloudstack`): Ikoula's public cloud by default
(libcloud's IKOULA driver), or any CloudStack endpoint given by `url`.

Every call is a signed GET (`apiKey` + HMAC-SHA1 `signature`); changes are asynchronous jobs that
libcloud polls with `queryAsyncJobResult` every `poll_interval_seconds`. Our tags are written with
`createTags` right after `deployVirtualMachine` (which takes none); the name prefix still identifies
a VM whose tagging failed. VMs are deployed started (libcloud's default is `startvm=false`).
"""

from __future__ import annotations

import builtins
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from pydantic import Field, field_validator, model_validator

from chalicelib.adapters.providers.base import TAG_CLUSTER, HostedOptions, log
from chalicelib.adapters.providers.cloudstack_nat import StaticNat, parse_rule
from chalicelib.adapters.providers.libcloud_common import LibcloudProvider
from chalicelib.config import SecretName
from chalicelib.domain.fleet import VM
from chalicelib.ports import LaunchSpec, Provider, ProviderError

#: What a BBB server must accept from everyone (BBB's firewall guide): HTTP (certificate challenge,
#: redirect), HTTPS (API, client, WebSocket), and WebRTC media. TURN (3478) runs on its own server
#: (`boot.turn_server`), not on fleet servers: add "tcp:3478", "udp:3478" only if yours do.
BBB_INGRESS = ("tcp:80", "tcp:443", "udp:16384-32768")


class CloudStackOptions(HostedOptions):
    """`[providers.X.options]` for CloudStack / Ikoula."""

    url: str | None = Field(
        None, description="API endpoint, e.g. https://cloud.example/client/api (default: Ikoula)"
    )
    api_key_env: SecretName = "CLOUDSTACK_API_KEY"
    secret_key_env: SecretName = "CLOUDSTACK_SECRET_KEY"
    zone: str = Field(description="zone name or id")
    service_offering: str = Field(description="service offering (size) name or id")
    network: str | None = Field(None, description="network name or id (advanced zones)")
    key_pair: str | None = None
    security_groups: list[str] = Field(default_factory=list, description="basic zones only")
    expunge: bool = Field(
        True,
        description="destroy frees the VM at once instead of after the expunge delay, where the account may "
        "(listCapabilities: allowuserexpungerecovervm)",
    )
    poll_interval_seconds: float = Field(2.0, gt=0, le=60, description="async job polling period")

    def secrets_needed(self) -> list[str]:
        return [self.api_key_env, self.secret_key_env, *super().secrets_needed()]

    public_ip: Literal["nic", "static_nat"] = Field(
        "nic",
        description="nic: the VM's own NIC is public (basic zone, shared network); static_nat: isolated "
        "network, one public IP per VM with static NAT and the ingress rules",
    )
    ingress: list[str] = Field(
        default_factory=lambda: list(BBB_INGRESS),
        description="static_nat: opened ranges, e.g. udp:16384-32768",
    )
    ingress_cidr: str = Field("0.0.0.0/0", description="static_nat: who may reach the opened ranges")

    @field_validator("ingress")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        for rule in value:
            parse_rule(rule)
        return value

    @model_validator(mode="after")
    def _isolated(self) -> CloudStackOptions:
        if self.public_ip == "static_nat" and not self.network:
            raise ValueError("public_ip = static_nat needs the isolated network's name or id in network")
        return self


class CloudStackProvider(LibcloudProvider[CloudStackOptions]):
    """CloudStack VMs of one zone as bbbscale servers (see module doc)."""

    Options = CloudStackOptions
    kind = "cloudstack"
    _expunge_allowed: bool | None = None  # listCapabilities' answer, once read (may_expunge)

    def _new_driver(self):
        from libcloud.compute.providers import Provider, get_driver

        opts = self.options
        key, secret = self.secret(opts.api_key_env), self.secret(opts.secret_key_env)
        # Any: libcloud's get_driver returns the base NodeDriver, whose `connection` is typed as the base
        # Connection; CloudStack's is a PollingConnection (poll_interval).
        driver: Any
        if opts.url:
            secure = opts.url.startswith("https:")
            driver = get_driver(Provider.CLOUDSTACK)(key, secret, secure=secure, url=opts.url)
        else:
            driver = get_driver(Provider.IKOULA)(key, secret)
        driver.connection.poll_interval = opts.poll_interval_seconds
        driver.connection.timeout = max(opts.timeout_seconds, 600)  # whole-job limit, not per request
        return driver

    @staticmethod
    def _pick(what: str, wanted: str, choices):
        for item in choices:
            if wanted in (str(item.id), item.name):
                return item
        raise ProviderError(
            f"CloudStack: no {what} {wanted!r} (known: {', '.join(sorted(i.name for i in choices)[:10])})"
        )

    @cached_property
    def _zone(self):
        return self._pick("zone", self.options.zone, self.call("listZones", self.driver.list_locations))

    @cached_property
    def _size(self):
        return self._pick(
            "service offering",
            self.options.service_offering,
            self.call("listServiceOfferings", self.driver.list_sizes),
        )

    def _template(self, wanted: str):
        cache = self.__dict__.setdefault("_templates", {})
        if wanted not in cache:
            cache[wanted] = self._pick(
                "template", wanted, self.call("listTemplates", self.driver.list_images, self._zone)
            )
        return cache[wanted]

    @cached_property
    def _network(self):
        if not self.options.network:
            return None
        return self._pick(
            "network", self.options.network, self.call("listNetworks", self.driver.ex_list_networks)
        )

    def _to_vm(self, node) -> VM:
        return self.node_to_vm(node, dict((node.extra or {}).get("tags") or {}))

    def list(self) -> list[VM]:
        """This cluster's VMs of this provider, by tag (or name prefix); destroyed ones left out."""
        vms = (self._to_vm(node) for node in self.call("listVirtualMachines", self.driver.list_nodes))
        return [vm for vm in vms if vm.status != "gone" and self.owns(vm.name, vm.tags)]

    def _create_one(self, spec: LaunchSpec) -> VM:
        """deployVirtualMachine, then createTags; a VM whose tagging failed is destroyed again (and
        expunged) so that nothing bills outside the cluster's listing."""
        try:
            node = self._deploy(spec)
        except ProviderError as error:
            self.undo_lost_create(spec.name, error)
        try:
            self.call(
                f"createTags {spec.name}", self.driver.ex_create_tags, [node.id], "UserVm", dict(spec.tags)
            )
            if self.options.public_ip == "static_nat":
                node.public_ips = [self.nat.attach(node, spec.name, self._network, self._zone)]
        except ProviderError as error:
            self._undo(node, spec.name, error)
        node.extra["tags"] = dict(spec.tags)
        return self._to_vm(node)

    @cached_property
    def nat(self) -> StaticNat:
        return StaticNat(self)

    def create(self, specs: builtins.list[LaunchSpec]) -> builtins.list[VM]:
        """As every provider; with static NAT, first release our public IPs whose VM is gone."""
        if specs and self.options.public_ip == "static_nat":
            self.nat.orphans({vm.vm_id for vm in self.list()})
        return super().create(specs)

    def _deploy(self, spec: LaunchSpec):
        opts = self.options
        return self.call(
            f"deployVirtualMachine {spec.name}",
            self.driver.create_node,
            name=spec.name,
            size=self._size,
            image=self._template(spec.image or self.settings.image),
            location=self._zone,
            networks=[self._network] if self._network else None,
            ex_keyname=opts.key_pair,
            ex_userdata=spec.user_data,
            ex_security_groups=list(opts.security_groups) or None,
            ex_displayname=spec.name,
            ex_start_vm=True,
            idempotent=False,  # no client token: a lost answer may still have deployed the VM
            retry=False,
        )

    def may_expunge(self) -> bool:
        """Whether a destroy asks CloudStack to expunge at once: the `expunge` option, where the account
        may. CloudStack refuses `expunge=true` from an account that is not an admin unless its
        `allow.user.expunge.recover.vm` setting is on (default off), and says which in listCapabilities'
        `allowuserexpungerecovervm` (an admin's included). Asked once; an unreadable answer is asked again
        next time and means no expunge meanwhile: the destroy still succeeds, and CloudStack expunges the
        VM itself after its `expunge.delay`."""
        if not self.options.expunge:
            return False
        if self._expunge_allowed is None:
            try:
                answer = self.call("listCapabilities", self.driver._sync_request, command="listCapabilities")
            except ProviderError as error:
                log.warning("%s: destroying without expunge: %s", self.name, error)
                return False
            self._expunge_allowed = bool(
                (answer or {}).get("capability", {}).get("allowuserexpungerecovervm")
            )
        return self._expunge_allowed

    def _undo(self, node, name: str, error: ProviderError) -> NoReturn:
        """Destroy (and expunge) a VM whose creation failed half-way, then raise the creation's error:
        retryable as it was when the VM is gone, never when it could not be destroyed."""
        try:
            self.call(
                f"destroyVirtualMachine {node.id}",
                self.driver.destroy_node,
                self.bare_node(str(node.id)),
                ex_expunge=self.may_expunge(),
                missing_ok=True,
            )
        except ProviderError as cleanup:
            raise ProviderError(f"{error}; destroying VM {name} ({node.id}) failed too: {cleanup}") from None
        raise ProviderError(f"{error} (VM {name} destroyed again)", error.retryable) from None

    def start(self, vm_id: str) -> VM:
        """startVirtualMachine (waits for the job); returns the VM as CloudStack reports it then."""
        self.call(f"startVirtualMachine {vm_id}", self.driver.ex_start, self.bare_node(vm_id))
        return self._to_vm(self.call(f"listVirtualMachines id={vm_id}", self.driver.ex_get_node, vm_id))

    def stop(self, vm_id: str) -> None:
        self.call(f"stopVirtualMachine {vm_id}", self.driver.ex_stop, self.bare_node(vm_id))

    def destroy(self, vm_id: str) -> None:
        """destroyVirtualMachine (expunged at once where allowed: `may_expunge`); already gone counts as
        destroyed. With
        static NAT, its public IP is released first (a destroyed VM would leave it allocated, billed)."""
        if self.options.public_ip == "static_nat":
            self.nat.release(vm_id)
        self.call(
            f"destroyVirtualMachine {vm_id}",
            self.driver.destroy_node,
            self.bare_node(vm_id),
            ex_expunge=self.may_expunge(),
            missing_ok=True,
        )

    def _describe_nat(self) -> str:
        if self.options.public_ip != "static_nat":
            return ""
        rules = ",".join(self.options.ingress)
        return (
            f"; command=associateIpAddress network={self.options.network}; command=enableStaticNat; "
            f"command=createFirewallRule {rules} from {self.options.ingress_cidr}"
        )

    def _describe(self, operation: str, target) -> str:
        where = f"GET {self.options.url or 'https://cloudstack.ikoula.com/client/api'}"
        if operation == "create":
            return (
                f"{where} command=deployVirtualMachine name={target.name} zone={self.options.zone} "
                f"serviceoffering={self.options.service_offering} template={target.image or self.settings.image} "
                f"startvm=true {self.user_data_note(target)}; command=createTags {TAG_CLUSTER}={self.context.cluster}"
                + self._describe_nat()
            )
        if operation == "destroy" and self.options.public_ip == "static_nat":
            where += " command=disassociateIpAddress (its public IP);"
        command = {
            "start": "startVirtualMachine",
            "stop": "stopVirtualMachine",
            "destroy": "destroyVirtualMachine",
        }[operation]
        return f"{where} command={command} id={target}" + (
            " expunge=true (if listCapabilities allowuserexpungerecovervm)"
            if operation == "destroy" and self.options.expunge
            else ""
        )


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Provider] = CloudStackProvider
