"""The ports each service takes, and nothing more (issue 21): observe, the actuator and the burst guard
each get a small frozen bundle naming exactly the ports they read, built from `FleetPorts` at the one
place that calls them (service/tick.py for observe and the actuator, `burst_guard` for the guard).
Creation and DNS, which the actuator calls, say what they read as Protocols its bundle satisfies.
dry_run.py's `DryRunPorts` is the same pattern. tests/unit/test_service_ports.py fails if a bundle
carries a port its service never reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Protocol, Self

from chalicelib.ports import BbbServers, Clock, Dns, Provider, Scalelite, StateStore
from chalicelib.service.fleet_ports import FleetPorts, ForecastsLoad, ReachesBbb, UserData
from chalicelib.service.keys import ServerKeys

if TYPE_CHECKING:  # annotations only: the settings model brings pydantic, which `import app` avoids
    from chalicelib.config import Settings
    from chalicelib.service.forecasting import Forecaster


class TakenFrom:
    """A bundle whose fields are FleetPorts' fields of the same names: `of(ports)` picks them."""

    @classmethod
    def of(cls, ports: FleetPorts) -> Self:
        names: list[str] = [f.name for f in fields(cls)] if is_dataclass(cls) else []
        return cls(**{name: getattr(ports, name) for name in names})


@dataclass(frozen=True)
class ObservePorts(TakenFrom, ReachesBbb, ForecastsLoad):
    """What observe reads: the records and what the services keep (`store`), Scalelite's servers and
    meetings, the providers' VMs, the BBB servers (`bbb`, with each VM's secret from `keys`), the DNS
    zone, the forecast, and whether BBB servers are read in parallel."""

    settings: Settings
    store: StateStore
    scalelite: Scalelite
    providers: Mapping[str, Provider]
    bbb: BbbServers
    keys: ServerKeys
    dns: Dns | None
    forecaster: Forecaster | None
    parallel_checks: bool


@dataclass(frozen=True)
class ActuatorPorts(TakenFrom, ReachesBbb):
    """What the actuator acts through: the store, Scalelite, the providers (with a new VM's `user_data`
    and `progress` of long batches), the BBB servers (a drain's last meetings) with each VM's secret,
    and the DNS zone."""

    settings: Settings
    store: StateStore
    scalelite: Scalelite
    providers: Mapping[str, Provider]
    bbb: BbbServers
    keys: ServerKeys
    user_data: UserData
    dns: Dns | None
    progress: Callable[[str], None]


class CreationPorts(Protocol):
    """What a batch of creates reads (service/creation.py): the providers, their settings, progress."""

    @property
    def settings(self) -> Settings: ...
    @property
    def providers(self) -> Mapping[str, Provider]: ...
    @property
    def progress(self) -> Callable[[str], None]: ...


class DnsPorts(Protocol):
    """What a VM's records are worked out from (service/dns.py): the settings and the zone."""

    @property
    def settings(self) -> Settings: ...
    @property
    def dns(self) -> Dns | None: ...


@dataclass(frozen=True)
class GuardPorts(TakenFrom, ForecastsLoad):
    """What the burst guard reads and acts through: Scalelite (getServers, updateServer), the BBB
    servers (getMeetings, with the secrets Scalelite gives), the store (records, ledger, history), the
    clock, the forecast, and whether BBB servers are read in parallel. Never the providers or DNS."""

    settings: Settings
    store: StateStore
    scalelite: Scalelite
    bbb: BbbServers
    clock: Clock
    forecaster: Forecaster | None
    parallel_checks: bool
