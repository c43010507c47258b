"""Outscale (3DS OUTSCALE, SecNumCloud regions included) through apache-libcloud's OSC driver
(kind `outscale`).

The OSC API is JSON over POST `https://api.<region>.outscale.com/api/v1/<Action>`, signed with the
access/secret key pair (OSC4-HMAC-SHA256). Two libcloud quirks are worked around in a small driver
subclass: its calls have no timeout and return error bodies instead of raising (we raise one
ProviderError, retryable on 429/503), and its `destroy_node` sends `VmIds` as a string where the API
wants an array. `endpoint` points the driver at another API root (another partition, or a test).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import Field

from chalicelib.adapters.providers.base import TAG_CLUSTER, TAG_HOSTNAME, HostedOptions, utc
from chalicelib.adapters.providers.libcloud_common import LibcloudProvider
from chalicelib.adapters.providers.retry import safe_to_retry
from chalicelib.config import SecretName
from chalicelib.domain.fleet import VM
from chalicelib.ports import LaunchSpec, Provider, ProviderError

log = logging.getLogger("bbbscale.providers")

#: Outscale's regions as Outscale names them ("Regions, Endpoints and Subregions Reference",
#: docs.outscale.com): each one's API is https://api.<region>.outscale.com. `cloudgouv-eu-west-1` is the
#: SecNumCloud region. An account lives in one region; `ReadRegions` may not list them all.
Region = Literal["eu-west-2", "cloudgouv-eu-west-1", "us-east-2", "us-west-1", "ap-northeast-1"]
REGIONS: tuple[str, ...] = get_args(Region)


class OutscaleOptions(HostedOptions):
    """`[providers.X.options]` for Outscale."""

    region: Region = "eu-west-2"
    endpoint: str | None = Field(None, description="API root instead of https://api.<region>.outscale.com")
    access_key_env: SecretName = "OSC_ACCESS_KEY"
    secret_key_env: SecretName = "OSC_SECRET_KEY"
    vm_type: str = "tinav5.c8r16p2"
    subnet_id: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    keypair_name: str | None = None

    def secrets_needed(self) -> list[str]:
        return [self.access_key_env, self.secret_key_env, *super().secrets_needed()]


def _driver_class():
    """libcloud's OSC driver with a timeout, raising errors, and a configurable API root."""
    import requests
    from libcloud.compute.drivers.outscale import OutscaleNodeDriver

    class BoundedOutscaleDriver(OutscaleNodeDriver):
        api_root: str | None = None
        timeout: float = 30.0

        def _get_outscale_endpoint(self, region, version, action):
            if self.api_root:
                return f"{self.api_root.rstrip('/')}/api/{version}/{action}"
            return super()._get_outscale_endpoint(region, version, action)

        def _call_api(self, action, data):
            headers = self._ex_generate_headers(action, data)
            try:
                response = requests.post(
                    self._get_outscale_endpoint(self.region, self.version, action),
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as error:
                raise ProviderError(
                    f"outscale {action} failed: {type(error).__name__}",
                    safe_to_retry(idempotent=True, error=error),
                ) from None
            if response.status_code != 200:
                try:
                    first = (response.json().get("Errors") or [{}])[0]
                    detail = (
                        f"{first.get('Code', '')} {first.get('Type', '')} {first.get('Details', '')}".strip()
                    )
                except ValueError:
                    detail = response.text[:200]
                # Every call we make is idempotent: reads, tags, actions on named VMs, and CreateVms
                # with a ClientToken (a repeated call returns the first call's VM).
                retryable = safe_to_retry(idempotent=True, status=response.status_code)
                raise ProviderError(
                    f"outscale {action} failed: HTTP {response.status_code} {detail}", retryable
                )
            return response

        def delete_vms(self, vm_ids: list[str]):
            return self._call_api("DeleteVms", json.dumps({"VmIds": list(vm_ids)}))

    return BoundedOutscaleDriver


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


class OutscaleProvider(LibcloudProvider[OutscaleOptions]):
    """Outscale VMs of one region as bbbscale servers (see module doc)."""

    Options = OutscaleOptions
    kind = "outscale"

    def _new_driver(self):
        opts = self.options
        driver = _driver_class()(
            self.secret(opts.access_key_env),
            self.secret(opts.secret_key_env),
            region=opts.region,
            version="v1",
        )
        driver.api_root, driver.timeout = opts.endpoint, opts.timeout_seconds
        return driver

    def _to_vm(self, node) -> VM:
        """Outscale names VMs by their `Name` tag; its VM carries PublicDnsName and CreationDate."""
        extra = node.extra or {}
        tags = _tags(extra.get("Tags"))
        vm = self.node_to_vm(node, tags)
        return replace(
            vm,
            name=tags.get("Name", vm.name),
            address=tags.get(TAG_HOSTNAME) or extra.get("PublicDnsName") or vm.address,
            image=extra.get("ImageId"),
            launched_at=utc(extra.get("CreationDate")),
        )

    def list(self) -> list[VM]:
        """This cluster's VMs (filter `Tags: ["bbbscale:cluster=<cluster>"]`), terminated ones left out."""
        query = {
            "Filters": {
                "Tags": [f"{TAG_CLUSTER}={self.context.cluster}"],
                "VmStateNames": ["pending", "running", "stopping", "stopped"],
            }
        }
        vms = (
            self._to_vm(n) for n in self.call("ReadVms", self.driver.list_nodes, ex_data=json.dumps(query))
        )
        return [vm for vm in vms if self.owns(vm.name, vm.tags)]

    def _image(self, wanted: str):
        from libcloud.compute.base import NodeImage

        if wanted.startswith("ami-"):
            return NodeImage(id=wanted, name=wanted, driver=self.driver)
        cache = self.__dict__.setdefault("_images", {})
        if wanted not in cache:
            found = self.call("ReadImages", self.driver.list_images, image_names=[wanted])
            exact = [i for i in found if i.get("ImageName") == wanted]
            if not exact:
                raise ProviderError(f"Outscale: no image named {wanted!r} in {self.options.region}")
            cache[wanted] = NodeImage(id=exact[-1]["ImageId"], name=wanted, driver=self.driver)
        return cache[wanted]

    def _create_one(self, spec: LaunchSpec) -> VM:
        """CreateVms, then CreateTags; a VM whose tagging failed is deleted again (untagged, it would
        bill outside the cluster's listing). The ClientToken (the server name, never reused) makes a
        retried CreateVms return the VM of the first call rather than a second VM."""
        opts = self.options
        node = self.call(
            f"CreateVms {spec.name}",
            self.driver.create_node,
            image=self._image(spec.image or self.settings.image),
            ex_user_data=base64.b64encode(spec.user_data.encode()).decode(),  # the API wants base64
            ex_vm_type=opts.vm_type,
            ex_keypair_name=opts.keypair_name,
            ex_subnet_id=opts.subnet_id,
            ex_security_group_ids=list(opts.security_group_ids) or None,
            ex_boot_on_creation=True,
            ex_client_token=spec.name,
            retry=False,  # safe to repeat (ClientToken), but `create_many` retries whole creations
        )
        tags = [{"Key": "Name", "Value": spec.name}] + [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        try:
            self.call(f"CreateTags {spec.name}", self.driver.ex_create_tags, [node.id], tags)
        except ProviderError as error:
            try:
                self.call(f"DeleteVms {node.id}", self.driver.delete_vms, [node.id])
            except ProviderError as cleanup:
                raise ProviderError(f"{error}; deleting VM {node.id} failed too: {cleanup}") from None
            # Not retryable: the ClientToken is spent on the deleted VM; the next tick uses a new name.
            raise ProviderError(f"{error} (VM {spec.name} {node.id} deleted again)") from None
        node.extra["Tags"] = tags
        return self._to_vm(node)

    def _sweep(self, names: set[str]) -> None:
        """As every provider, then by ClientToken: a VM whose CreateVms answers were all lost has no
        tags yet, so the tag-filtered listing cannot see it; its token (the server name) finds it."""
        super()._sweep(names)
        query = {
            "Filters": {
                "ClientTokens": sorted(names),
                "VmStateNames": ["pending", "running", "stopping", "stopped"],
            }
        }
        try:
            for node in self.call(
                "ReadVms by ClientToken", self.driver.list_nodes, ex_data=json.dumps(query)
            ):
                log.warning(
                    "provider %s: deleting untagged VM %s, made by a failed creation", self.name, node.id
                )
                self.destroy(node.id)
        except ProviderError as error:
            log.warning("provider %s: looking for VMs of failed creations failed: %s", self.name, error)

    def _read(self, vm_id: str) -> VM:
        query = json.dumps({"Filters": {"VmIds": [vm_id]}})
        nodes = self.call(f"ReadVms {vm_id}", self.driver.list_nodes, ex_data=query)
        if not nodes:
            raise ProviderError(f"Outscale: VM {vm_id} not found")
        return self._to_vm(nodes[0])

    def start(self, vm_id: str) -> VM:
        self.call(f"StartVms {vm_id}", self.driver.start_node, self.bare_node(vm_id))
        return self._read(vm_id)

    def stop(self, vm_id: str) -> None:
        self.call(f"StopVms {vm_id}", self.driver.stop_node, self.bare_node(vm_id))

    def destroy(self, vm_id: str) -> None:
        """DeleteVms; a VM the API no longer knows counts as destroyed."""
        try:
            self.retried(self.driver.delete_vms, [vm_id])
        except ProviderError as error:
            if "InvalidResource" not in str(error) and "HTTP 404" not in str(error):
                raise

    def _describe(self, operation: str, target) -> str:
        root = self.options.endpoint or f"https://api.{self.options.region}.outscale.com"
        if operation == "create":
            return (
                f"POST {root}/api/v1/CreateVms image={target.image or self.settings.image} type={self.options.vm_type} "
                f"{self.user_data_note(target)}; POST {root}/api/v1/CreateTags Name={target.name} "
                f"{TAG_CLUSTER}={self.context.cluster}"
            )
        action = {"start": "StartVms", "stop": "StopVms", "destroy": "DeleteVms"}[operation]
        return f"POST {root}/api/v1/{action} VmIds=[{target}]"


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Provider] = OutscaleProvider
