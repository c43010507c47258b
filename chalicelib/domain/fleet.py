"""The fleet as bbbscale knows it: servers, their lifecycle states, and provider VMs.

Pure data. A `Server` is bbbscale's persisted record of one BBB server; a `VM` is what a provider's API
reports, and reconciliation (domain/reconcile.py) matches the two by name and provider id; a
`ScaleliteServer` is what Scalelite's getServers reports of a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from chalicelib.load_units import REFERENCE_SERVER_UNITS


class ServerState(StrEnum):
    """A server's lifecycle. Forward path:
    requested -> booting -> healthy -> registered -> serving -> draining -> drained -> stopping -> stopped
    (or destroyed, for providers in `create` mode); side exits: failed (never became healthy, or a step
    could not be undone) and lost (the provider no longer knows the VM).

    `draining` is Scalelite's `cordoned`: it keeps its meetings and gets no new ones."""

    REQUESTED = "requested"  # intent recorded, provider call not yet confirmed
    BOOTING = "booting"  # the provider has the VM; BBB not answering yet
    HEALTHY = "healthy"  # BBB API answers SUCCESS and a checksummed getMeetings works
    REGISTERED = "registered"  # added to Scalelite (disabled there until enabled)
    SERVING = "serving"  # enabled in Scalelite: takes new meetings
    DRAINING = "draining"  # cordoned in Scalelite: keeps its meetings, no new ones
    DRAINED = "drained"  # empty, deleted from Scalelite, waiting for the end of its paid period
    STOPPING = "stopping"  # provider stop/destroy issued
    STOPPED = "stopped"  # power mode: VM stopped, can be started again
    DESTROYED = "destroyed"  # create mode: VM gone, record kept for history
    FAILED = "failed"
    LOST = "lost"


#: States that count as capacity on the way (will serve without a new decision).
COMING = frozenset({ServerState.REQUESTED, ServerState.BOOTING, ServerState.HEALTHY, ServerState.REGISTERED})
#: States in which a VM exists and is billed.
RUNNING = COMING | {ServerState.SERVING, ServerState.DRAINING, ServerState.DRAINED, ServerState.STOPPING}
#: States a record never leaves by itself.
FINAL = frozenset({ServerState.STOPPED, ServerState.DESTROYED, ServerState.LOST})


@dataclass(frozen=True, slots=True)
class VM:
    """What a provider reports about one VM. `status` is normalised: pending, running, stopped, gone."""

    provider: str
    vm_id: str
    name: str
    status: str
    address: str | None = None  # public DNS name or IP the BBB API is reached at
    image: str | None = None
    launched_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    ips: tuple[str, ...] = ()  # public IPv4/IPv6 addresses, for the server's DNS records


@dataclass(frozen=True, slots=True)
class Server:
    """bbbscale's record of one server. `version` guards every write (optimistic concurrency)."""

    name: str  # bbbscale-<cluster>-<provider>-<n>: unique, also the VM name and Scalelite tag key
    provider: str
    state: ServerState
    since: datetime  # when it entered `state`
    # The provider's capacity_units when the record was written. Not this version's figure (that is
    # `capacity_of`, from the settings): still written because versions before it require the key, and
    # read only for a provider since removed from the settings.
    capacity: float
    vm_id: str | None = None
    url: str | None = None  # BBB API base, e.g. https://bbb12.example.org/bigbluebutton/api
    scalelite_id: str | None = None
    image: str | None = None
    billed_since: datetime | None = None  # start of the current billing run (for paid-period timing)
    created_at: datetime | None = None
    meetings: int = 0  # last observed
    load_units: float = 0.0  # last observed
    offline_ticks: int = 0  # consecutive observations where Scalelite marked it offline
    reason: str = ""  # why it is in `state`
    version: int = 0

    def moved(self, state: ServerState, now: datetime, reason: str, **changes) -> Server:
        """The same server in a new state, with the reason recorded."""
        return replace(self, state=state, since=now, reason=reason, **changes)


@dataclass(frozen=True, slots=True)
class ScaleliteServer:
    """One server as Scalelite's getServers reports it (docs/scalelite-and-bbb.md: server records)."""

    id: str
    url: str
    secret: str = field(repr=False)
    state: str  # enabled | cordoned | disabled
    online: bool
    load: float | None  # None when Scalelite says "unavailable"
    load_multiplier: float = 1.0
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Fleet:
    """All known servers. Helpers count by provider and state, as `tick --json`'s `fleet` shows."""

    servers: tuple[Server, ...] = ()

    def of(self, provider: str) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.provider == provider)

    def live(self, provider: str | None = None) -> tuple[Server, ...]:
        """Servers with a running VM (billed), optionally of one provider."""
        return tuple(
            s for s in self.servers if s.state in RUNNING and (provider is None or s.provider == provider)
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """{provider: {state: n}} over non-final servers, for `tick --json`."""
        out: dict[str, dict[str, int]] = {}
        for s in self.servers:
            if s.state in FINAL:
                continue
            by_state = out.setdefault(s.provider, {})
            by_state[s.state.value] = by_state.get(s.state.value, 0) + 1
        return out


class ProviderCapacity(Protocol):
    """What `capacity_of` reads of a provider's settings (chalicelib.config.ProviderSettings)."""

    @property
    def capacity_units(self) -> float: ...


def capacity_of(server: Server, providers: Mapping[str, ProviderCapacity]) -> float:
    """Load units `server` carries at full load. The one source is its provider's `capacity_units` in the
    settings: every server of a provider is of the size the operator configured there, so a corrected
    figure applies at once to the servers already running (an owned pool is never replaced), and the
    planner, `status`, the burst guard, Scalelite's multiplier and the simulator's VMs all read the same
    figure. Only a provider no longer configured (reconcile leaves its servers as they are) falls back
    to the figure its record was written with."""
    p = providers.get(server.provider)
    return p.capacity_units if p is not None else server.capacity


def scalelite_multiplier(capacity: float) -> float:
    """Scalelite's `load_multiplier` for a server of `capacity` load units. Scalelite places a new room on
    the server of lowest load, each user counting 1 x the multiplier (docs/scalelite-and-bbb.md): a
    reference server (REFERENCE_SERVER_UNITS) counts 1.0, one twice its size 0.5, so each fills in
    proportion to what it carries."""
    return round(REFERENCE_SERVER_UNITS / capacity, 3)
