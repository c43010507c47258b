"""The ports a capacity check and the burst guard talk to, typed, as chalicelib/bootstrap.py builds them
for every entry point (the Lambda functions, the CLI, `bbbscale run`, the simulator).

Nothing here builds an adapter or reads the environment: a service gets a `FleetPorts` and uses the
ports it names. `FleetPorts` is frozen and holds no mutable state: what the tick and the guard learn in
one process (room sizes, the guard itself) is a `GuardMemory` (chalicelib/service/room_memory.py) that
the Wiring or the run loop owns and hands to whoever needs it beside the ports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.domain.fleet import Server
from chalicelib.ports import BbbServer, BbbServers, Clock, Dns, Provider, Scalelite, StateStore
from chalicelib.service.keys import ServerKeys

if TYPE_CHECKING:  # annotations only: the settings model brings pydantic, which `import app` avoids
    from chalicelib.config import Settings
    from chalicelib.domain.tick_report import TickReport
    from chalicelib.service.certificates import CertificateKeeper
    from chalicelib.service.forecasting import Forecaster

log = logging.getLogger("bbbscale")

#: Renders the cloud-init user data of a new server ("" when its provider renders its own).
UserData = Callable[[Server], str]


def _log_progress(message: str) -> None:
    log.info(message)


def _no_notification(result: TickReport) -> None:
    return None


class ReachesBbb:
    """For a bundle with `bbb` and `keys`: the BBB server of one of ours."""

    bbb: BbbServers
    keys: ServerKeys

    def bbb_of(self, server: Server) -> BbbServer:
        """The BbbServer port for one of our servers (its secret derived from the master key)."""
        return self.bbb.server(server.url or "", self.keys.of(server.name), server.name)


class ForecastsLoad:
    """For a bundle with `forecaster`: the expected load now (0 and no reason when the forecast is off)."""

    forecaster: Forecaster | None

    def forecast(self, now: datetime) -> tuple[float, str]:
        if self.forecaster is None:
            return 0.0, ""
        return self.forecaster(now)


@dataclass(frozen=True)
class FleetPorts(ReachesBbb, ForecastsLoad):
    """`settings`: the validated configuration. `store`: the state store (records, history, operator
    settings, reservations, lease). `scalelite`: its APIs. `providers`: where servers run, by the
    configuration's name. `bbb`: the BBB servers reached directly. `keys`: each VM's BBB secret.
    `user_data`: a new server's cloud-init. `dns`: the zone naming each server, if any. `forecaster`: the
    expected load, if on. `notify`: posts an acting tick's changes to chat (best effort). `progress`:
    long work says how far it got. `parallel_checks`: BBB servers are read in parallel (over HTTP; the
    in-process simulator reads them in turn). `lease_heartbeat`: the lease renewal period in seconds
    (None: a third of the lease; 0: no heartbeat thread, for in-process ticks that take milliseconds).
    `fresh_scalelite`: a Scalelite client of its own for a thread beside the tick (an HTTP session is
    not shared between threads). `certificates`: keeps the fleet's wildcard certificate, if
    `[certificates]` is set. Each service takes a bundle of what it reads (service/service_ports.py),
    built from these at the one place that calls it."""

    settings: Settings
    store: StateStore
    scalelite: Scalelite
    providers: Mapping[str, Provider]
    bbb: BbbServers
    keys: ServerKeys
    user_data: UserData
    clock: Clock
    dns: Dns | None = None
    forecaster: Forecaster | None = None
    notify: Callable[[TickReport], None] = _no_notification
    progress: Callable[[str], None] = _log_progress
    parallel_checks: bool = True
    lease_heartbeat: float | None = None
    fresh_scalelite: Callable[[], Scalelite] | None = None
    certificates: CertificateKeeper | None = None

    def learn(self, now: datetime, units: float | None) -> None:
        """Feed the measured load to the forecast's history."""
        if self.forecaster is not None:
            self.forecaster.record(now, units)

    def announce(self, result: TickReport) -> None:
        """Post an acting tick's changes to chat; a failed post is logged and never fails the tick."""
        try:
            self.notify(result)
        except Exception as error:  # noqa: BLE001 - chat is best effort; the history has everything
            log.warning("notification not sent: %s", type(error).__name__)

    def beside(self) -> FleetPorts:
        """The ports for a thread beside this one (the burst guard in `bbbscale run`): the same store,
        clock and settings, its own Scalelite client (its memory: `GuardMemory.beside`)."""
        scalelite = self.fresh_scalelite() if self.fresh_scalelite is not None else self.scalelite
        return replace(self, scalelite=scalelite)
