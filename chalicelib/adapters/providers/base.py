"""What every API-backed provider adapter shares: options for bulk creation and first boot, naming and
tagging of this cluster's VMs, user-data preparation, and the `calls` description used by dry runs.

An adapter subclasses `HostedProvider` and supplies `_create_one(spec) -> VM`, `list`, `start`, `stop`,
`destroy` and `_describe(operation, target) -> str`. Provider SDKs are imported inside methods so
that `import app` (and configuration validation, which imports adapter classes) stays light.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.adapters.providers.bulk import create_many
from chalicelib.adapters.providers.retry import retrying
from chalicelib.adapters.providers.userdata import (
    MASTER_KEY_SECRET,
    BootOptions,
    pick_hostname,
    render,
    server_secret,
)
from chalicelib.config import ProviderSettings
from chalicelib.domain.fleet import VM
from chalicelib.ports import PROVIDER_OPERATIONS, CreationProgress, LaunchSpec, ProviderContext, ProviderError

log = logging.getLogger("bbbscale.providers")

TAG_CLUSTER = "bbbscale:cluster"
TAG_PROVIDER = "bbbscale:provider"
TAG_HOSTNAME = "bbbscale:hostname"


class HostedOptions(BaseModel):
    """Options every API-backed adapter accepts: how hard it may push the API, and first-boot data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(8, ge=1, le=64, description="creations in flight at once")
    rate_per_second: float = Field(5.0, gt=0, le=1000, description="API calls started per second at most")
    retries: int = Field(4, ge=0, le=10, description="retries of a call that is safe to send again")
    backoff_seconds: float = Field(
        1.0, ge=0, le=60, description="first retry window: a random wait up to this, doubled each time"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="per HTTP call")
    boot: BootOptions = Field(default_factory=BootOptions)

    def secrets_needed(self) -> list[str]:
        """The secret names this provider cannot work without, checked at start (issue 23: a missing
        OS_PASSWORD was found only when a tick called the provider). The TURN secret when the boot
        names TURN servers; each adapter adds its credentials."""
        return [self.boot.turn_secret_env] if self.boot.turn_hosts() else []


#: The options model of one adapter: `HostedProvider[OpenStackOptions]` reads `self.options.flavor` typed.
OptionsT = TypeVar("OptionsT", bound=HostedOptions)


def utc(value: Any) -> datetime | None:
    """A provider timestamp (datetime or ISO-8601 text) as an aware UTC datetime, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class HostedProvider(Generic[OptionsT]):
    """Base of the API-backed adapters (see module doc). Public surface: the `Provider` port (its
    `calls` and `report_progress` included) and `last_failures`.

    Generic over its options model, so each adapter's `self.options` is its own pydantic model to the
    type checker; `Options` names the same model for the registry, which validates `[providers.X.options]`
    with it before the adapter is built (a test holds the two to each other)."""

    Options: ClassVar[type[HostedOptions]] = HostedOptions
    kind = "hosted"
    #: Renders each server's user data at creation (`prepare`), so the core's LaunchSpec leaves it
    #: empty (userdata.render_user_data reads this, since base.py imports userdata and not the reverse).
    renders_user_data = True

    def __init__(self, name: str, settings: ProviderSettings, options: OptionsT, context: ProviderContext):
        self.name = name
        self.settings = settings
        self.options = options
        self.context = context
        self._progress_to: CreationProgress | None = None
        self.last_failures: list[tuple[str, str]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} mode={self.settings.mode}>"

    # --- naming and tags ------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """Every VM of this cluster and provider is named `<prefix><n>`."""
        return f"bbbscale-{self.context.cluster}-{self.name}-"

    def owns(self, vm_name: str, tags: dict[str, str] | None = None) -> bool:
        """True for this cluster's VMs of this provider: by tag when tagged, else by name."""
        tags = tags or {}
        if TAG_CLUSTER in tags:
            return (
                tags[TAG_CLUSTER] == self.context.cluster and tags.get(TAG_PROVIDER, self.name) == self.name
            )
        return bool(vm_name) and vm_name.startswith(self.prefix)

    def base_tags(self) -> dict[str, str]:
        return {TAG_CLUSTER: self.context.cluster, TAG_PROVIDER: self.name}

    def vm(
        self, vm_id: str, name: str, status: str, tags: dict[str, str], address: str | None, **more: Any
    ) -> VM:
        """A VM record; the address is the server's DNS name when we gave it one, else its public IP."""
        return VM(self.name, vm_id, name, status, tags.get(TAG_HOSTNAME) or address, tags=dict(tags), **more)

    # --- secrets and user data ------------------------------------------------------------------------
    def secret(self, key: str) -> str:
        """A secret by name from the context; a missing one is an error naming the key, not the value."""
        value = self.context.secret(key)
        if not value:
            raise ProviderError(f"provider {self.name}: secret {key} is not set")
        return value

    def prepare(self, specs: Sequence[LaunchSpec]) -> list[LaunchSpec]:
        """Specs ready to send: tagged for this cluster, image filled in, and user data rendered when the
        caller gave none (hostname, per-server secret, TURN, recordings, Scalelite)."""
        boot = self.options.boot
        in_use = {vm.address for vm in self.list() if vm.address} if boot.hostnames else set()
        ready = []
        for spec in specs:
            tags = {**spec.tags, **self.base_tags()}
            user_data = spec.user_data
            if not user_data:
                hostname = pick_hostname(boot, spec.name, in_use)
                in_use.add(hostname)
                tags[TAG_HOSTNAME] = hostname
                turn = self.secret(boot.turn_secret_env) if boot.turn_hosts() else ""
                user_data = render(
                    boot,
                    name=spec.name,
                    cluster=self.context.cluster,
                    hostname=hostname,
                    secret=server_secret(self.secret(MASTER_KEY_SECRET), spec.name),
                    turn_secret=turn,
                )
            ready.append(
                replace(spec, tags=tags, user_data=user_data, image=spec.image or self.settings.image)
            )
        return ready

    def retried(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`, sent again (with jittered backoff, retry.py) while it fails with a
        retryable ProviderError; the adapter's error translation decides what is retryable."""
        return retrying(self.options.retries, self.options.backoff_seconds)(fn, *args, **kwargs)

    # --- the port -------------------------------------------------------------------------------------
    def list(self) -> list[VM]:
        raise NotImplementedError

    # `list` is the method from here on: the type is spelt builtins.list (as in ports.Provider).
    def destroy(self, vm_id: str) -> None:
        raise NotImplementedError

    def _create_one(self, spec: LaunchSpec) -> VM:
        raise NotImplementedError

    def create(self, specs: builtins.list[LaunchSpec]) -> builtins.list[VM]:
        """Create the VMs in parallel within the rate limit (see bulk.py). Returns the VMs created; the
        ones that failed are logged and kept in `last_failures` (name, error), and leave nothing billable
        behind (adapters undo their steps, `_sweep` destroys a VM made anyway); if none could be
        created, raises the first error as a ProviderError."""
        if not specs:
            return []
        ready = self.prepare(specs)
        opts = self.options
        outcome = create_many(
            self._create_one,
            ready,
            opts.concurrency,
            opts.rate_per_second,
            opts.retries,
            self._progress,
            backoff_seconds=opts.backoff_seconds,
        )
        self.last_failures = [(spec.name, str(error)) for spec, error in outcome.failed]
        for name, error in self.last_failures:
            log.warning("provider %s: creating %s failed: %s", self.name, name, error)
        if outcome.failed:
            self._sweep({spec.name for spec, _ in outcome.failed})
        if outcome.failed and not outcome.created:
            first = outcome.failed[0][1]
            retryable = getattr(first, "retryable", False)
            raise ProviderError(
                f"provider {self.name}: no VM created ({len(outcome.failed)} failed): {first}", retryable
            )
        return outcome.created

    def _sweep(self, names: set[str]) -> None:
        """Destroy what failed creations made anyway. Each adapter undoes its own half-done steps
        (volumes, IPs); this catches the VM of a create whose answer was lost (a timeout after the API
        acted), which nothing would bill us for knowing. Best effort: a failure here is logged, and
        reconciliation meets the VM at the next tick (tagged or named as ours)."""
        try:
            strays = [vm for vm in self.list() if vm.name in names and vm.status != "gone"]
            for vm in strays:
                log.warning(
                    "provider %s: destroying %s (%s), made by a failed creation", self.name, vm.name, vm.vm_id
                )
                self.destroy(vm.vm_id)
        except ProviderError as error:
            log.warning("provider %s: checking failed creations for strays failed: %s", self.name, error)

    def _progress(self, done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:  # about ten log lines per bulk run
            log.info("provider %s: %d/%d creations done", self.name, done, total)
        if self._progress_to:
            self._progress_to(done, total)

    def report_progress(self, to: CreationProgress | None) -> None:
        """`create` reports (done, total) to `to` after each VM's creation finishes (see bulk.py)."""
        self._progress_to = to

    # --- dry runs -------------------------------------------------------------------------------------
    def calls(self, operation: str, targets: builtins.list[Any]) -> builtins.list[str]:
        """The API calls this adapter would make for `operation` on `targets` (LaunchSpecs for create,
        VM ids otherwise), one human line each, secrets left out. Makes no call itself."""
        if operation not in PROVIDER_OPERATIONS:
            raise ProviderError(
                f"unknown operation {operation!r}; choose one of: {', '.join(PROVIDER_OPERATIONS)}"
            )
        return [self._describe(operation, target) for target in targets]

    def _describe(self, operation: str, target: Any) -> str:
        raise NotImplementedError

    @staticmethod
    def user_data_note(spec: LaunchSpec) -> str:
        """'(user data 1.3 kB)' or '(user data rendered at creation)': its size, never its content."""
        if not spec.user_data:
            return "(user data rendered at creation)"
        return f"(user data {len(spec.user_data.encode()) / 1000:.1f} kB)"
