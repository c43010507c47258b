"""OpenStack (Nova behind Keystone v3) through apache-libcloud (kind `openstack`): the API of several
European public clouds (OVHcloud Public Cloud, Infomaniak, Cleura, ...).

Authentication: a Keystone v3 password (user, domain, project) or an application credential (id +
secret, already scoped to its project). The password / credential secret come from the secret store
under the names in the options. Servers are created from the prepared image with the flavor, network,
key pair and security groups of the options, our tags as Nova metadata, and cloud-init as user data.
"""

from __future__ import annotations

from functools import cached_property
from types import SimpleNamespace
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from chalicelib.adapters.providers.base import TAG_CLUSTER, HostedOptions
from chalicelib.adapters.providers.libcloud_common import LibcloudProvider
from chalicelib.config import SecretName
from chalicelib.domain.fleet import VM
from chalicelib.ports import LaunchSpec, Provider, ProviderError


class OpenStackOptions(HostedOptions):
    """`[providers.X.options]` for OpenStack."""

    auth_url: str = Field(description="Keystone base URL, e.g. https://auth.cloud.ovh.net/v3")
    auth: Literal["password", "application_credential"] = "password"
    username: str | None = None
    user_domain: str = "Default"
    project_name: str | None = None
    project_domain_id: str = "default"
    password_env: SecretName = "OS_PASSWORD"
    application_credential_id: str | None = None
    application_credential_secret_env: SecretName = "OS_APPLICATION_CREDENTIAL_SECRET"
    region: str = Field(description="catalog region, e.g. GRA11")
    flavor: str = Field(description="flavor name or id, e.g. b2-15")
    network: str | None = Field(None, description="network name or id (default: the project's default)")
    key_name: str | None = None
    security_groups: list[str] = Field(default_factory=list)
    availability_zone: str | None = None

    def secrets_needed(self) -> list[str]:
        own = (
            self.application_credential_secret_env
            if self.auth == "application_credential"
            else self.password_env
        )
        return [own, *super().secrets_needed()]

    @model_validator(mode="after")
    def _credentials(self) -> OpenStackOptions:
        if self.auth == "password" and not (self.username and self.project_name):
            raise ValueError("password auth needs username and project_name")
        if self.auth == "application_credential" and not self.application_credential_id:
            raise ValueError("application_credential auth needs application_credential_id")
        return self


class OpenStackProvider(LibcloudProvider[OpenStackOptions]):
    """Nova servers of one region as bbbscale servers (see module doc)."""

    Options = OpenStackOptions
    kind = "openstack"

    def _new_driver(self):
        from libcloud.compute.providers import Provider, get_driver

        opts = self.options
        url = opts.auth_url.rstrip("/")
        # libcloud appends /v3/auth/tokens itself: give it the Keystone root, never .../v3.
        url = url[: -len("/v3")] if url.endswith("/v3") else url
        common = dict(
            api_version="2.0",  # libcloud's default (1.1) lists images through Nova's retired proxy
            ex_force_auth_url=url,
            ex_force_service_region=opts.region,
            ex_tenant_name=opts.project_name,
            ex_domain_name=opts.user_domain,
            ex_tenant_domain_id=opts.project_domain_id,
            timeout=opts.timeout_seconds,
        )
        cls = get_driver(Provider.OPENSTACK)
        if opts.auth == "application_credential":
            secret = self.secret(opts.application_credential_secret_env)
            return cls(opts.application_credential_id, secret, ex_force_auth_version="3.x_appcred", **common)
        return cls(
            opts.username, self.secret(opts.password_env), ex_force_auth_version="3.x_password", **common
        )

    # Flavor, image and network are resolved once (by id or name) and shared by all threads.
    @cached_property
    def _flavor(self):
        return self._pick("flavor", self.options.flavor, self.call("list flavors", self.driver.list_sizes))

    def _image(self, wanted: str):
        cache = self.__dict__.setdefault("_images", {})
        if wanted not in cache:
            cache[wanted] = self._pick("image", wanted, self.call("list images", self.driver.list_images))
        return cache[wanted]

    @cached_property
    def _network(self):
        if not self.options.network:
            return None
        return self._pick(
            "network", self.options.network, self.call("list networks", self.driver.ex_list_networks)
        )

    @staticmethod
    def _pick(what: str, wanted: str, choices):
        for item in choices:
            if wanted in (item.id, item.name):
                return item
        raise ProviderError(
            f"OpenStack: no {what} {wanted!r} (known: {', '.join(sorted(i.name for i in choices)[:10])})"
        )

    def _to_vm(self, node) -> VM:
        return self.node_to_vm(node, dict((node.extra or {}).get("metadata") or {}))

    def list(self) -> list[VM]:
        """This cluster's servers of this provider, by metadata tag (or name prefix)."""
        vms = (self._to_vm(node) for node in self.call("list servers", self.driver.list_nodes))
        return [vm for vm in vms if self.owns(vm.name, vm.tags)]

    def _create_one(self, spec: LaunchSpec) -> VM:
        try:
            return self._to_vm(self._create_server(spec))
        except ProviderError as error:
            self.undo_lost_create(spec.name, error)

    def _create_server(self, spec: LaunchSpec):
        opts = self.options
        return self.call(
            f"create server {spec.name}",
            self.driver.create_node,
            name=spec.name,
            size=self._flavor,
            image=self._image(spec.image or self.settings.image),
            ex_keyname=opts.key_name,
            ex_userdata=spec.user_data,
            ex_metadata=dict(spec.tags),
            networks=[self._network] if self._network else None,
            ex_security_groups=[SimpleNamespace(name=g) for g in opts.security_groups] or None,
            ex_availability_zone=opts.availability_zone,
            idempotent=False,  # Nova has no client token: a lost answer may still have made a server
            retry=False,
        )

    def start(self, vm_id: str) -> VM:
        """os-start a SHUTOFF server; returns it as Nova reports it right after."""
        self.call(f"start server {vm_id}", self.driver.start_node, self.bare_node(vm_id))
        return self._to_vm(self.call(f"read server {vm_id}", self.driver.ex_get_node_details, vm_id))

    def stop(self, vm_id: str) -> None:
        self.call(f"stop server {vm_id}", self.driver.stop_node, self.bare_node(vm_id))

    def destroy(self, vm_id: str) -> None:
        """Delete the server; one already gone (404) counts as destroyed."""
        self.call(f"delete server {vm_id}", self.driver.destroy_node, self.bare_node(vm_id), missing_ok=True)

    def _describe(self, operation: str, target) -> str:
        host = urlsplit(self.options.auth_url).hostname
        where = f"nova[{self.options.region} via {host}]"
        if operation == "create":
            network = f" network={self.options.network}" if self.options.network else ""
            return (
                f"POST {where}/servers name={target.name} flavor={self.options.flavor} "
                f"image={target.image or self.settings.image}{network} metadata {TAG_CLUSTER}={self.context.cluster} "
                f"{self.user_data_note(target)}"
            )
        if operation == "destroy":
            return f"DELETE {where}/servers/{target}"
        action = {"start": "os-start", "stop": "os-stop"}[operation]
        return f"POST {where}/servers/{target}/action {action}"


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Provider] = OpenStackProvider
