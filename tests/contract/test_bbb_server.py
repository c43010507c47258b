"""The BbbServer port's contract (one BBB server reached directly: health, its own meetings, recordings
still processing), run over the real client against a simulated BBB server on the local Scalelite and
against the small loopback BBB fleet (both real HTTP on loopback), the in-process simulated server, and
the hand-written test fake.

What the service relies on (service/observe.py, domain/lifecycle.py): a server that answers is healthy
and lists its own meetings, an empty one is an empty list (not an error); one that does not answer is
not healthy, and asking it for meetings or recordings raises UnreachableError — never "no load", never
"no recordings", which would let a server with classes be stopped.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from chalicelib.ports import BbbServer, UnreachableError

AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
#: (server name, rooms on it, recordings not yet transferred to Scalelite) -> the port on that server; and a lever silencing one
Opened = tuple[Callable[[str, int, int], BbbServer], Callable[[str], None]]


def _seed(world, name: str, rooms: int, recordings: int) -> None:
    world.add_bbb_server(name, f"secret-of-{name}", 300.0, AT)
    for n in range(rooms):
        world.create_meeting(f"{name}-room-{n}", AT, participants=12, server=name)
    world.set_recordings_pending(name, recordings)


@contextmanager
def over_http() -> Iterator[Opened]:
    from bbbsim.scalelite_http import LocalScalelite
    from bbbsim.world import SimWorld
    from chalicelib.adapters.scalelite.bbb import BbbApi

    world = SimWorld(random.Random(3))
    with LocalScalelite(world, "lb-secret", clock=lambda: AT) as local:

        def server(name: str, rooms: int, recordings: int) -> BbbServer:
            _seed(world, name, rooms, recordings)
            return BbbApi(local.server_url(name), f"secret-of-{name}", retries=0, server_name=name, backoff=0)

        yield server, lambda name: world.set_fault(name, offline=True)


@contextmanager
def loopback() -> Iterator[Opened]:
    """The real client against the small loopback BBB fleet of tests/support/fake_bbb.py."""
    from chalicelib.adapters.scalelite.bbb import BbbApi
    from chalicelib.domain.load import Meeting
    from tests.support.bbb_xml import render_get_meetings
    from tests.support.fake_bbb import LoopbackFleet

    with LoopbackFleet() as fleet:

        def server(name: str, rooms: int, recordings: int) -> BbbServer:
            meetings = [Meeting(f"{name}-room-{n}", participants=12) for n in range(rooms)]
            fleet.add_bbb(
                name,
                f"secret-of-{name}",
                meetings_xml=render_get_meetings(meetings),
                # a transferred recording is deleted here (the image's transfer): only `deleted` is gone
                recordings=["processing"] * recordings + ["deleted"],
            )
            url = f"{fleet.url}/{name}/bigbluebutton/api"
            return BbbApi(url, f"secret-of-{name}", retries=0, server_name=name, backoff=0)

        def silence(name: str) -> None:
            fleet.endpoints[name].status = 503

        yield server, silence


@contextmanager
def simulated() -> Iterator[Opened]:
    from bbbsim.direct import DirectBbb
    from bbbsim.world import SimWorld

    world = SimWorld(random.Random(3))

    def server(name: str, rooms: int, recordings: int) -> BbbServer:
        _seed(world, name, rooms, recordings)
        return DirectBbb(world, name, f"secret-of-{name}")

    yield server, lambda name: world.set_fault(name, offline=True)


@contextmanager
def fake() -> Iterator[Opened]:
    from tests.support.fakes import FakeBbb, FakeScalelite

    scalelite, healthy, recordings = FakeScalelite(), set(), {}

    def server(name: str, rooms: int, count: int) -> BbbServer:
        url = f"https://{name}.example.org/bigbluebutton/api"
        scalelite.meetings_by_url[url], recordings[url] = rooms, count
        healthy.add(url)
        return FakeBbb(scalelite, url, healthy, recordings)

    yield server, lambda name: healthy.discard(f"https://{name}.example.org/bigbluebutton/api")


@pytest.fixture(params=["http", "loopback", "simulated", "fake"])
def opened(request) -> Opened:
    openers = {"http": over_http, "loopback": loopback, "simulated": simulated, "fake": fake}
    with openers[request.param]() as pair:
        yield pair


def test_a_server_that_answers_is_healthy_and_lists_its_own_meetings(opened):
    server, _ = opened
    bbb = server("bbb1", 3, 2)
    assert bbb.healthy() is True
    meetings = bbb.meetings().meetings
    assert len(meetings) == 3 and len({m.meeting_id for m in meetings}) == 3
    assert bbb.recordings_pending() == 2


def test_an_empty_server_is_an_empty_list_not_an_error(opened):
    server, _ = opened
    bbb = server("bbb1", 0, 0)
    assert bbb.healthy() is True and bbb.meetings().meetings == () and bbb.recordings_pending() == 0


def test_a_server_that_does_not_answer_is_unhealthy_and_never_reads_as_empty(opened):
    server, silence = opened
    bbb = server("bbb1", 2, 1)
    silence("bbb1")
    assert bbb.healthy() is False
    with pytest.raises(UnreachableError):
        bbb.meetings()
    with pytest.raises(UnreachableError):
        bbb.recordings_pending()
