"""What the libcloud-backed adapters (OpenStack, CloudStack, Outscale) share: one driver per worker
thread (libcloud connections keep per-request state, so bulk creations must not share one), error
translation into ProviderError, and libcloud node states mapped onto ours."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from chalicelib.adapters.providers.base import HostedProvider, OptionsT, utc
from chalicelib.adapters.providers.retry import safe_to_retry
from chalicelib.domain.fleet import VM
from chalicelib.ports import ProviderError

# libcloud NodeState values -> pending|running|stopped|gone. An errored or unknown VM stays "pending":
# it never turns healthy, so the core fails it and destroys it, rather than forgetting a billed VM.
STATUS = {
    "running": "running",
    "starting": "pending",
    "rebooting": "pending",
    "pending": "pending",
    "reconfiguring": "pending",
    "migrating": "pending",
    "stopping": "stopped",
    "stopped": "stopped",
    "suspended": "stopped",
    "paused": "stopped",
    "terminated": "gone",
    "error": "pending",
    "unknown": "pending",
}


def libcloud_failure(what: str, error: Exception, idempotent: bool = True) -> ProviderError:
    """One ProviderError line for a libcloud error, retryable when sending it again is safe (retry.py):
    throttling and 502-504 always; other 5xx and network faults only for an idempotent call."""
    from libcloud.common.exceptions import RateLimitReachedError

    code = getattr(error, "code", None) or getattr(error, "http_code", None)
    if isinstance(error, RateLimitReachedError):
        retryable = True
    elif isinstance(code, int) and code >= 400:
        retryable = safe_to_retry(idempotent=idempotent, status=code)
    else:
        network = isinstance(error, (ConnectionError, TimeoutError, OSError)) or type(
            error
        ).__module__.startswith(("requests", "urllib3"))
        retryable = network and safe_to_retry(idempotent=idempotent, error=error)
    # Query strings are cut: CloudStack's carry the API key and request signature.
    detail = re.sub(r"\?[^\s'\")]*", "?...", str(getattr(error, "value", "") or error))[:300]
    return ProviderError(f"{what} failed: {type(error).__name__}: {detail}", retryable=retryable)


def is_not_found(error: Exception) -> bool:
    """True when the API says the VM is already gone: HTTP 404 (Nova), or CloudStack's 431 "entity
    does not exist" (it has no 404 for unknown ids)."""
    code = getattr(error, "code", None) or getattr(error, "http_code", None)
    text = str(getattr(error, "value", "") or error)
    return code == 404 or "404" in text[:40] or "does not exist" in text


class LibcloudProvider(HostedProvider[OptionsT]):
    """Base of the libcloud adapters: subclasses implement `_new_driver()` and use `call(what, fn, ...)`."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    def _new_driver(self) -> Any:
        raise NotImplementedError

    @property
    def driver(self) -> Any:
        """This thread's libcloud driver, made on first use (libcloud is imported only then)."""
        driver = getattr(self._local, "driver", None)
        if driver is None:
            driver = self._local.driver = self._new_driver()
        return driver

    def call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        missing_ok: bool = False,
        idempotent: bool = True,
        retry: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Run a driver call; any libcloud or network error becomes one ProviderError naming `what`,
        and the call is sent again while that is safe (retry.py; for a call that is not `idempotent`,
        only when it surely was not carried out). With `missing_ok`, a 404 (the resource is already
        gone) returns None instead. The call that makes a VM passes `retry=False`: `create_many`
        retries whole creations (within the rate limit), and only what is safe."""

        def once():
            try:
                return fn(*args, **kwargs)
            except ProviderError:
                raise
            except Exception as error:  # noqa: BLE001 - libcloud raises many unrelated types
                if missing_ok and is_not_found(error):
                    return None
                raise libcloud_failure(f"{self.kind} {what}", error, idempotent) from None

        return self.retried(once) if retry else once()

    def undo_lost_create(self, name: str, error: ProviderError) -> NoReturn:
        """Raise the failure of a create call that is not one request: libcloud's CloudStack create
        polls a job, its OpenStack create reads the server back. A retryable fault in a later request
        says nothing about the first, which may have made the VM: before such a failure is retried,
        a VM of that name is looked up and destroyed, and then the failure is no longer retried."""
        if error.retryable:
            try:
                strays = [vm for vm in self.list() if vm.name == name]
                for vm in strays:
                    self.destroy(vm.vm_id)
            except ProviderError as cleanup:
                raise ProviderError(f"{error}; removing a VM it may have made failed: {cleanup}") from None
            if strays:
                raise ProviderError(f"{error} (VM {name} it made destroyed again)") from None
        raise error

    def node_to_vm(self, node: Any, tags: dict[str, str]) -> VM:
        """A libcloud Node as our VM record (status normalised, first public IP as the address)."""
        state = str(getattr(node.state, "value", node.state)).lower()
        return self.vm(
            str(node.id),
            node.name or "",
            STATUS.get(state, "pending"),
            tags,
            (node.public_ips or [None])[0],
            image=(node.extra or {}).get("imageId") or (node.extra or {}).get("ImageId"),
            launched_at=utc(getattr(node, "created_at", None) or (node.extra or {}).get("created") or None),
            ips=tuple(str(ip) for ip in node.public_ips or ()),  # for the server's DNS records
        )

    def bare_node(self, vm_id: str) -> Any:
        """A libcloud Node carrying only an id: enough for start/stop/destroy calls (none of the three
        drivers reads the name there; libcloud types it as text, so it is empty rather than None)."""
        from libcloud.compute.base import Node
        from libcloud.compute.types import NodeState

        return Node(
            id=vm_id, name="", state=NodeState.UNKNOWN, public_ips=[], private_ips=[], driver=self.driver
        )
