"""A simulated cloud provider (kind "simulated"): VMs that boot into BBB servers of the simulated world.

It implements the Provider port (chalicelib/ports.py) with the faults real provider APIs have: calls
that fail (retryable), calls that time out AFTER doing the work (the "did it happen?" case), VMs that
boot but whose BBB never answers. Time is `context.now()`; boots finish lazily on each call or when
the world advances. Its state lives in the world (`world.provider_records[name]`), so building the
provider twice over one world sees the same VMs. Billing follows `settings.billing`: each started
second, minute or hour of each run is paid.

Mode "static" is an owned pool: `settings.min_servers` VMs always on, registered AND enabled in the
world's Scalelite from the start (untagged, so Scalelite places ordinary meetings on them), and no
API to change them.
"""

from __future__ import annotations

import builtins
import math
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from bbbsim.scalelite_model import name_in_url
from bbbsim.world import SimWorld
from chalicelib.config import ProviderSettings
from chalicelib.domain.fleet import VM
from chalicelib.ports import (
    PROVIDER_OPERATIONS,
    CreationProgress,
    LaunchSpec,
    ProviderContext,
    ProviderError,
)

CLUSTER_TAG = "bbbscale:cluster"
_SECRET_IN_USER_DATA = re.compile(r"(?m)^\s*(?:export\s+)?BBB_SECRET\s*[=:]\s*[\"']?([A-Za-z0-9_-]{8,})")
_BILLING_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


@dataclass
class SimVm:
    """One VM as the simulated provider keeps it."""

    vm_id: str
    name: str
    status: str  # pending | running | stopped | gone
    launched_at: datetime
    ready_at: datetime
    healthy: bool
    secret: str = field(repr=False)
    image: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    runs: list[list] = field(default_factory=list)  # [start, end or None]: billed periods
    listed: tuple | None = field(default=None, repr=False, compare=False)  # (key, VM): see `_vm`

    def __getstate__(self) -> dict:
        """Stored without the listed record `_vm` remembers (a read is not a change)."""
        return {k: v for k, v in self.__dict__.items() if k != "listed"}


class SimulatedCloud:
    """Provider port over the simulated world. See the module docstring for its behaviour."""

    class Options(BaseModel):
        """The `options` table of a simulated provider."""

        model_config = ConfigDict(extra="forbid")

        boot_minutes: float | None = Field(None, ge=0, description="default: the provider's boot_minutes")
        boot_jitter_minutes: float = Field(0.0, ge=0)
        never_healthy_rate: float = Field(0.0, ge=0, le=1)
        api_failure_rate: float = Field(0.0, ge=0, le=1)
        api_timeout_rate: float = Field(0.0, ge=0, le=1)
        seed: int = 0
        bbb_secret_env: str | None = Field(
            None,
            description="where the image's BBB secret comes from "
            "(context.secret); default: BBB_SECRET=... in the user data, "
            "else one random secret per VM",
        )

    def __init__(
        self, name: str, settings: ProviderSettings, options, context: ProviderContext, world: SimWorld
    ):
        if not isinstance(world, SimWorld):
            raise ProviderError(f"provider {name}: the simulated cloud needs a simulated world")
        self.name = name
        self.settings = settings
        self.options = (
            options if isinstance(options, self.Options) else self.Options.model_validate(options or {})
        )
        self.context = context
        self.world: SimWorld = world
        self._progress_to: CreationProgress | None = None
        self._image_secret = (
            context.secret(self.options.bbb_secret_env) if self.options.bbb_secret_env else None
        )
        with self.world.lock:
            self.world.provider_records.setdefault(
                name,
                {
                    "vms": {},
                    "rng": random.Random(self.options.seed),
                    "fail_calls": 0,
                    "fail_boots": 0,
                    "n": 0,
                },
            )
        self.world.on_advance(f"cloud:{name}", self._settle)
        if settings.mode == "static":
            self._seed_static(context.now())

    @property
    def vm_capacity(self) -> float:
        """Load units each of its VMs carries once booted: the provider's `capacity_units`, the one figure
        the product reads for its servers too (chalicelib.domain.fleet.capacity_of), so the simulated
        overload and the planner's idea of capacity come from the same place."""
        return self.settings.capacity_units

    def __repr__(self) -> str:
        return f"SimulatedCloud({self.name!r}, mode={self.settings.mode})"

    # --- fault injection -------------------------------------------------------------------------------
    def fail_next_calls(self, n: int) -> None:
        """The next n API calls fail with a retryable ProviderError before doing anything."""
        with self.world.lock:
            self._state["fail_calls"] = n

    def fail_next_boots(self, n: int) -> None:
        """The next n VMs created or started boot, but their BBB never answers."""
        with self.world.lock:
            self._state["fail_boots"] = n

    # --- the Provider port -----------------------------------------------------------------------------
    def list(self) -> list[VM]:
        """This cluster's VMs (by the cluster tag), destroyed ones left out."""
        return self._call(
            "list",
            lambda now: [
                self._vm(v)
                for v in self._vms.values()
                if v.status != "gone" and v.tags.get(CLUSTER_TAG) == self.context.cluster
            ],
            static_ok=True,
        )

    def create(self, specs: builtins.list[LaunchSpec]) -> builtins.list[VM]:
        """New VMs, pending until their boot delay has passed. All specs are checked before any starts."""

        def action(now):
            live = [v for v in self._vms.values() if v.status != "gone"]
            names = [s.name for s in specs]
            taken = {v.name for v in live} & set(names)
            if taken or len(set(names)) != len(names):
                raise ProviderError(
                    f"provider {self.name}: VM names already in use: {sorted(taken) or names}"
                )
            if len(live) + len(specs) > self.settings.quota:
                raise ProviderError(f"provider {self.name}: quota of {self.settings.quota} VMs exceeded")
            return [self._vm(self._launch(s, now)) for s in specs]

        made = self._call("create", action)
        if specs and self._progress_to is not None:  # one call makes them all: one report, at its end
            self._progress_to(len(specs), len(specs))
        return made

    def start(self, vm_id: str) -> VM:
        """Boot a stopped VM again (a new billed run); a pending or running VM is returned as is."""

        def action(now):
            vm = self._get(vm_id)
            if vm.status == "stopped":
                vm.status, vm.healthy = "pending", self._boots_healthy()
                vm.ready_at = now + self._boot_delay()
                vm.runs.append([now, None])
            return self._vm(vm)

        return self._call("start", action)

    def stop(self, vm_id: str) -> None:
        """Power off: its BBB server leaves the world; meetings still on it are killed (and counted)."""
        self._call("stop", lambda now: self._power_off(self._get(vm_id), now, "stopped"))

    def destroy(self, vm_id: str) -> None:
        """Power off and delete: the VM disappears from `list`. Already gone is fine, as with the real
        providers: a retried destroy finds it gone."""

        def action(now):
            vm = self._vms.get(vm_id)
            if vm is not None and vm.status != "gone":
                self._power_off(vm, now, "gone")

        self._call("destroy", action)

    def calls(self, operation: str, targets: builtins.list) -> builtins.list[str]:
        """None: the simulated cloud's API is in this process, no request leaves it (a dry run over the
        simulator shows no calls)."""
        if operation not in PROVIDER_OPERATIONS:
            raise ProviderError(
                f"unknown operation {operation!r}; choose one of: {', '.join(PROVIDER_OPERATIONS)}"
            )
        return []

    def report_progress(self, to: CreationProgress | None) -> None:
        self._progress_to = to

    # --- billing ---------------------------------------------------------------------------------------
    def server_seconds(self, now: datetime) -> float:
        """Seconds VMs of this provider have run (pending included), up to `now`."""
        with self.world.lock:
            return sum(self._run_seconds(run, now) for vm in self._vms.values() for run in vm.runs)

    def bill(self, now: datetime) -> float:
        """What the provider charges up to `now`: each started billing unit of each run, at hourly_cost."""
        unit = _BILLING_SECONDS[self.settings.billing]
        with self.world.lock:
            units = sum(
                max(1, math.ceil(self._run_seconds(run, now) / unit))
                for vm in self._vms.values()
                for run in vm.runs
            )
        return units * unit / 3600.0 * self.settings.hourly_cost

    def secret_of(self, vm_id: str) -> str:
        """The BBB secret a VM's server was given (tests and the demo need it to register servers)."""
        with self.world.lock:
            return self._get(vm_id).secret

    # --- internals -------------------------------------------------------------------------------------
    @property
    def _state(self) -> dict:
        """This provider's records in the world, looked up on each use: a world shared between processes
        (bbbsim/shared.py) replaces its records whenever another process changed them."""
        return self.world.provider_records[self.name]

    @property
    def _vms(self) -> dict[str, SimVm]:
        return self._state["vms"]

    @property
    def _rng(self) -> random.Random:
        return self._state["rng"]

    def _call(self, what: str, action, static_ok: bool = False):
        if self.settings.mode == "static" and not static_ok:
            raise ProviderError("static pool: no API")
        now = self.context.now()
        self._settle(now)
        with self.world.lock:
            if self._state["fail_calls"] > 0:
                self._state["fail_calls"] -= 1
                raise ProviderError(
                    f"provider {self.name}: {what} failed (simulated API fault)", retryable=True
                )
            if self.options.api_failure_rate and self._rng.random() < self.options.api_failure_rate:
                raise ProviderError(
                    f"provider {self.name}: {what} failed (simulated API fault)", retryable=True
                )
            timed_out = (
                bool(self.options.api_timeout_rate) and self._rng.random() < self.options.api_timeout_rate
            )
            result = action(now)
        if timed_out:
            raise ProviderError(f"provider {self.name}: {what} timed out", retryable=True)
        return result

    def _get(self, vm_id: str) -> SimVm:
        vm = self._vms.get(vm_id)
        if vm is None or vm.status == "gone":
            raise ProviderError(f"provider {self.name}: no VM {vm_id!r}")
        return vm

    def _boot_delay(self) -> timedelta:
        base = (
            self.options.boot_minutes if self.options.boot_minutes is not None else self.settings.boot_minutes
        )
        jitter = (
            self._rng.uniform(0, self.options.boot_jitter_minutes)
            if self.options.boot_jitter_minutes
            else 0.0
        )
        return timedelta(minutes=base + jitter)

    def _boots_healthy(self) -> bool:
        if self._state["fail_boots"] > 0:
            self._state["fail_boots"] -= 1
            return False
        rate = self.options.never_healthy_rate
        return not (rate and self._rng.random() < rate)

    def _secret_for(self, spec: LaunchSpec) -> str:
        if self._image_secret:
            return self._image_secret
        found = _SECRET_IN_USER_DATA.search(spec.user_data or "")
        return found.group(1) if found else f"{self._rng.getrandbits(160):040x}"

    def _launch(self, spec: LaunchSpec, now: datetime) -> SimVm:
        self._state["n"] += 1
        vm = SimVm(
            f"{self.name}-vm-{self._state['n']:05d}",
            spec.name,
            "pending",
            now,
            now + self._boot_delay(),
            self._boots_healthy(),
            self._secret_for(spec),
            spec.image or self.settings.image,
            dict(spec.tags),
            [[now, None]],
        )
        self._vms[vm.vm_id] = vm
        return vm

    def _settle(self, now: datetime) -> None:
        """Finish the boots that are due: the VM runs and its BBB server appears (answering if healthy)."""
        with self.world.lock:
            for vm in self._vms.values():
                if vm.status == "pending" and vm.ready_at <= now:
                    vm.status = "running"
                    self.world.add_bbb_server(
                        vm.name, vm.secret, self.vm_capacity, vm.ready_at, answering=vm.healthy
                    )

    def _power_off(self, vm: SimVm, now: datetime, status: str) -> None:
        if vm.status in ("pending", "running"):
            self.world.power_off(vm.name)
            vm.runs[-1][1] = now
        vm.status = status

    def _run_seconds(self, run: builtins.list, now: datetime) -> float:
        end = run[1] or now
        return max(0.0, (end - run[0]).total_seconds())

    def _vm(self, vm: SimVm) -> VM:
        """The port's (frozen) record of a VM. Every tick lists every VM of every provider, so the record
        is kept on the VM and handed out again while every field it copies is unchanged (the key)."""
        url = self.world.url_for(vm.name)
        key = (self.name, vm.vm_id, vm.name, vm.status, url, vm.image, vm.launched_at, tuple(vm.tags.items()))
        if vm.listed is not None and vm.listed[0] == key:
            return vm.listed[1]
        record = VM(self.name, vm.vm_id, vm.name, vm.status, url, vm.image, vm.launched_at, dict(vm.tags))
        vm.listed = (key, record)
        return record

    def _seed_static(self, now: datetime) -> None:
        """The owned pool: min_servers VMs running, registered and enabled; idempotent per world."""
        with self.world.lock:
            registered = {name_in_url(e.url) for e in self.world.registry.values()}
            for n in range(1, self.settings.min_servers + 1):
                name = f"bbbscale-{self.context.cluster}-{self.name}-{n}"
                vm_id = f"{self.name}-static-{n:05d}"
                if vm_id not in self._vms:
                    secret = self._image_secret or f"{self._rng.getrandbits(160):040x}"
                    tags = {CLUSTER_TAG: self.context.cluster, "bbbscale:provider": self.name}
                    self._vms[vm_id] = SimVm(
                        vm_id,
                        name,
                        "running",
                        now,
                        now,
                        True,
                        secret,
                        self.settings.image,
                        tags,
                        [[now, None]],
                    )
                vm = self._vms[vm_id]
                self.world.add_bbb_server(name, vm.secret, self.vm_capacity, now)
                if name not in registered:
                    self.world.add_server(self.world.url_for(name), vm.secret, state="enabled", online=True)
