"""Scaleway Instances through its current API (v1, per zone) with requests (kind `scaleway`).

libcloud's SCALEWAY driver speaks a retired endpoint, so this adapter talks HTTP itself:
`{api_url}/instance/v1/zones/{zone}/servers`, authenticated by the `X-Auth-Token` header (an IAM
secret key). A new server is created stopped; its cloud-init goes to
`PATCH .../servers/{id}/user_data/cloud-init` (text/plain) before `POST .../action {"action":"poweron"}`.
Tags are plain strings, so ours are written `bbbscale:cluster=<cluster>`.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import TYPE_CHECKING, NoReturn

from pydantic import Field

from chalicelib.adapters.providers.base import (
    TAG_CLUSTER,
    TAG_HOSTNAME,
    TAG_PROVIDER,
    HostedOptions,
    HostedProvider,
    utc,
)
from chalicelib.adapters.providers.retry import safe_to_retry
from chalicelib.config import SecretName
from chalicelib.domain.fleet import VM
from chalicelib.ports import LaunchSpec, Provider, ProviderError

# Server states (Instances API reference). "stopped in place" keeps the hypervisor slot (still billed).
STATUS = {
    "running": "running",
    "starting": "pending",
    "stopping": "stopped",
    "stopped": "stopped",
    "stopped in place": "stopped",
    "locked": "stopped",
}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ScalewayOptions(HostedOptions):
    """`[providers.X.options]` for Scaleway."""

    api_url: str = "https://api.scaleway.com"
    zone: str = Field("fr-par-1", pattern=r"^[a-z]{2}-[a-z]{3}-\d$")
    project_id: str = Field(pattern=UUID.pattern)
    commercial_type: str = "POP2-HC-8C-16G"
    secret_key_env: SecretName = "SCW_SECRET_KEY"
    stop_action: str = Field(
        "poweroff",
        pattern=r"^(poweroff|stop_in_place)$",
        description="poweroff frees the hypervisor (not billed, slower start)",
    )
    page_size: int = Field(100, ge=1, le=100)

    def secrets_needed(self) -> list[str]:
        return [self.secret_key_env, *super().secrets_needed()]


def _tags(raw: list[str]) -> dict[str, str]:
    return dict(tag.split("=", 1) for tag in raw if "=" in tag)


class ScalewayProvider(HostedProvider[ScalewayOptions]):
    """Scaleway Instances of one zone as bbbscale servers (see module doc)."""

    Options = ScalewayOptions
    kind = "scaleway"

    @property
    def base(self) -> str:
        return f"{self.options.api_url.rstrip('/')}/instance/v1/zones/{self.options.zone}"

    @cached_property
    def session(self):
        import requests

        session = requests.Session()
        session.headers["X-Auth-Token"] = self.secret(self.options.secret_key_env)
        return session

    def _request(self, method: str, path: str, expect=(200,), retry: bool = True, **kwargs):
        """One API call, sent again while that is safe (retry.py). `retry=False` leaves retrying to the
        caller (the create's first call: `create_many` retries whole creations)."""
        if not retry:
            return self._send(method, path, expect, **kwargs)
        return self.retried(self._send, method, path, expect, **kwargs)

    def _send(self, method: str, path: str, expect, **kwargs):
        import requests

        # POST creates a server or runs an action: not safe to repeat once it may have been carried out.
        idempotent = method in ("GET", "PUT", "PATCH", "DELETE")
        try:
            response = self.session.request(
                method, self.base + path, timeout=self.options.timeout_seconds, **kwargs
            )
        except requests.RequestException as error:
            raise ProviderError(
                f"Scaleway {method} {path}: {type(error).__name__}",
                safe_to_retry(idempotent=idempotent, error=error),
            ) from None
        if response.status_code not in expect:
            try:
                message = response.json().get("message", "")
            except ValueError:
                message = response.text[:200]
            raise ProviderError(
                f"Scaleway {method} {path}: HTTP {response.status_code} {message}".strip(),
                safe_to_retry(idempotent=idempotent, status=response.status_code),
            )
        return response.json() if response.content else {}

    def _to_vm(self, server: dict) -> VM:
        ips = server.get("public_ips") or ([server["public_ip"]] if server.get("public_ip") else [])
        return self.vm(
            server["id"],
            server.get("name", ""),
            STATUS.get(server.get("state", ""), "pending"),
            _tags(server.get("tags", [])),
            ips[0]["address"] if ips else None,
            image=(server.get("image") or {}).get("id"),
            launched_at=utc(server.get("creation_date")),
            ips=tuple(ip["address"] for ip in ips if ip.get("address")),  # for the server's DNS records
        )

    def list(self) -> list[VM]:
        """This cluster's servers of this provider (tag filter server-side, then checked here)."""
        servers, page = [], 1
        while True:
            params = {
                "tags": f"{TAG_CLUSTER}={self.context.cluster}",
                "per_page": self.options.page_size,
                "page": page,
            }
            batch = self._request("GET", "/servers", params=params).get("servers", [])
            servers.extend(batch)
            if len(batch) < self.options.page_size:
                break
            page += 1
        vms = (self._to_vm(s) for s in servers)
        return [vm for vm in vms if self.owns(vm.name, vm.tags)]

    def _image_id(self, image: str) -> str:
        if UUID.match(image):
            return image
        found = self._request("GET", "/images", params={"name": image, "per_page": 100}).get("images", [])
        exact = [i for i in found if i.get("name") == image]
        if not exact:
            raise ProviderError(f"Scaleway: no image named {image!r} in zone {self.options.zone}")
        return sorted(exact, key=lambda i: i.get("creation_date", ""))[-1]["id"]

    def _create_one(self, spec: LaunchSpec) -> VM:
        body = {
            "name": spec.name,
            "commercial_type": self.options.commercial_type,
            "image": self._image_id(spec.image or self.settings.image),
            "project": self.options.project_id,
            "tags": [f"{k}={v}" for k, v in spec.tags.items()],
            "dynamic_ip_required": True,
        }
        server = self._request("POST", "/servers", expect=(200, 201), retry=False, json=body)["server"]
        try:
            self._request(
                "PATCH",
                f"/servers/{server['id']}/user_data/cloud-init",
                expect=(200, 204),
                data=spec.user_data.encode(),
                headers={"Content-Type": "text/plain"},
            )
            self._request(
                "POST", f"/servers/{server['id']}/action", expect=(200, 202), json={"action": "poweron"}
            )
        except ProviderError as error:
            # Never leave a half-made server behind: it would bill with no user data.
            self._undo(server, spec.name, error)
        return self._to_vm({**server, "state": "starting"})

    def _undo(self, server: dict, name: str, error: ProviderError) -> NoReturn:
        """Delete a server whose creation failed half-way, and its volumes (deleting a server keeps
        them, and they bill); then raise the creation's error. Retryable only if all of it is gone."""
        try:
            current = self._request("GET", f"/servers/{server['id']}", expect=(200, 404)).get("server")
            if current is None:  # gone already: its volumes may not be
                current = {"state": "stopped", "volumes": server.get("volumes")}
            if current.get("state") not in ("stopped", "stopped in place"):
                # Powered on after all (its answer was lost): terminate takes volumes and IP with it.
                self._request(
                    "POST", f"/servers/{server['id']}/action", expect=(200, 202), json={"action": "terminate"}
                )
            else:
                self._request("DELETE", f"/servers/{server['id']}", expect=(200, 204, 404))
                for volume in (current.get("volumes") or server.get("volumes") or {}).values():
                    self._request("DELETE", f"/volumes/{volume['id']}", expect=(200, 204, 404))
        except ProviderError as cleanup:
            raise ProviderError(
                f"{error}; cleaning up server {name} ({server['id']}) failed too: {cleanup}", retryable=False
            ) from None
        raise ProviderError(
            f"{error} (server {name} and its volumes deleted again)", error.retryable
        ) from None

    def start(self, vm_id: str) -> VM:
        self._request("POST", f"/servers/{vm_id}/action", expect=(200, 202), json={"action": "poweron"})
        return self._to_vm(self._request("GET", f"/servers/{vm_id}")["server"])

    def stop(self, vm_id: str) -> None:
        self._request(
            "POST", f"/servers/{vm_id}/action", expect=(200, 202), json={"action": self.options.stop_action}
        )

    def destroy(self, vm_id: str) -> None:
        """A running server: action `terminate` (power off, delete it, its volumes and dynamic IP). A
        stopped one cannot be terminated: delete the server, then its volumes. Gone already: done."""
        try:
            server = self._request("GET", f"/servers/{vm_id}")["server"]
        except ProviderError as error:
            if "HTTP 404" in str(error):
                return
            raise
        if server.get("state") != "stopped":
            self._request("POST", f"/servers/{vm_id}/action", expect=(200, 202), json={"action": "terminate"})
            return
        self._request("DELETE", f"/servers/{vm_id}", expect=(200, 204, 404))
        for volume in (server.get("volumes") or {}).values():
            self._request("DELETE", f"/volumes/{volume['id']}", expect=(200, 204, 404))

    def _describe(self, operation: str, target) -> str:
        if operation == "create":
            tags = f"{TAG_CLUSTER}={self.context.cluster},{TAG_PROVIDER}={self.name}"
            host = target.tags.get(TAG_HOSTNAME, "")
            return (
                f"POST {self.base}/servers name={target.name} commercial_type={self.options.commercial_type} "
                f"image={target.image or self.settings.image} tags={tags}{' hostname=' + host if host else ''}; "
                f"PATCH .../user_data/cloud-init {self.user_data_note(target)}; POST .../action poweron"
            )
        action = {"start": "poweron", "stop": self.options.stop_action, "destroy": "terminate"}[operation]
        return f"POST {self.base}/servers/{target}/action action={action}"


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Provider] = ScalewayProvider
