"""Every implementation of the Scalelite port, behind one `Balancer` handle, for the Scalelite contract.

The port is what the service calls; the rest of a handle is how the test puts the world in a state: a
BBB server to register (`server_url(name)`), classes running on a registered server that Scalelite has
polled (`hold_classes`), a server whose API fails (`break_server`). The implementations:
`ScaleliteClient` over real HTTP to the local Scalelite on loopback (bbbsim/scalelite_http.py),
the in-process simulated Scalelite (bbbsim/direct.py), the same behind the fault suite's wrapper,
and the hand-written test fake.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.ports import Scalelite

AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SECRET = "lb-secret-for-contract-0123456789"
CLASS_SIZE = 20  # participants of each class `hold_classes` starts

KINDS = ["http", "simulated", "faulty", "fake"]  # the whole contract
ADMIN_KINDS = [*KINDS, "loopback"]  # its server-admin half


@dataclass
class Balancer:
    """A Scalelite port and the levers that set up the world behind it."""

    scalelite: Scalelite
    server_url: Callable[[str], str]  # name -> the API base of a BBB server that can be registered
    hold_classes: Callable[[str, int], None]  # (registered url, n): n classes of CLASS_SIZE on it, polled
    break_server: Callable[[str], None]  # registered url: its API fails from now on


def _simulated_levers(world):
    def server_url(name: str) -> str:
        world.add_bbb_server(name, f"secret-of-{name}", 300.0, AT)
        return world.url_for(name)

    def hold_classes(url: str, n: int) -> None:
        name = world.node_for_url(url).name
        for i in range(n):
            world.create_meeting(f"{name}-class-{i}", AT, participants=CLASS_SIZE, server=name)
        world.poll(AT)  # Scalelite sees servers and their load only through its poller

    def break_server(url: str) -> None:
        world.set_fault(world.node_for_url(url).name, api_error=True)

    return server_url, hold_classes, break_server


@contextmanager
def http() -> Iterator[Balancer]:
    from bbbsim.scalelite_http import LocalScalelite
    from bbbsim.world import SimWorld
    from chalicelib.adapters.scalelite.client import ScaleliteClient
    from chalicelib.config import ScaleliteSettings

    world = SimWorld(random.Random(5))
    with LocalScalelite(world, SECRET, clock=lambda: AT) as local:
        client = ScaleliteClient(ScaleliteSettings(url=local.url, retries=0), SECRET, backoff=0.0)
        yield Balancer(client, *_simulated_levers(world))


@contextmanager
def simulated(calm_faults: bool = False) -> Iterator[Balancer]:
    """The in-process simulated Scalelite; with `calm_faults`, seen through the fault suite's wrapper
    (tests/support/faults.py) with no fault drawn, which must change nothing."""
    from bbbsim.direct import DirectScalelite
    from bbbsim.world import SimWorld
    from tests.support.faults import Faults, FaultyScalelite, Ledger

    world = SimWorld(random.Random(5))
    scalelite = DirectScalelite(world)
    if calm_faults:
        scalelite = FaultyScalelite(scalelite, Faults(random.Random(1)), Ledger())
    yield Balancer(scalelite, *_simulated_levers(world))


@contextmanager
def fake() -> Iterator[Balancer]:
    from tests.support.fakes import FakeScalelite

    scalelite = FakeScalelite()

    def hold_classes(url: str, n: int) -> None:
        scalelite.meetings_by_url[url] = scalelite.meetings_by_url.get(url, 0) + n

    def break_server(url: str) -> None:
        scalelite.internal_error = True

    yield Balancer(
        scalelite, lambda name: f"https://{name}.example.org/bigbluebutton/api", hold_classes, break_server
    )


@contextmanager
def loopback() -> Iterator[Balancer]:
    """The real client against tests/support/fake_bbb.py's loopback fleet: its admin API keeps a registry,
    but its getMeetings serves one fixed answer (it fakes the wire, not Scalelite's fan-out), so it runs
    the admin half of the contract only."""
    from chalicelib.adapters.scalelite.client import ScaleliteClient
    from chalicelib.config import ScaleliteSettings
    from tests.support.fake_bbb import LoopbackFleet

    with LoopbackFleet() as fleet:
        fleet.scalelite_secret = SECRET
        client = ScaleliteClient(
            ScaleliteSettings(url=f"{fleet.url}/bigbluebutton/api", retries=0), SECRET, backoff=0.0
        )

        def server_url(name: str) -> str:
            fleet.add_bbb(name, f"secret-of-{name}", register=False)
            return f"{fleet.url}/{name}/bigbluebutton/api"

        def admin_only(*_):
            raise NotImplementedError("the loopback fleet does not model Scalelite's getMeetings")

        yield Balancer(client, server_url, admin_only, admin_only)


OPENERS = {
    "http": http,
    "simulated": simulated,
    "faulty": lambda: simulated(calm_faults=True),
    "fake": fake,
    "loopback": loopback,
}
