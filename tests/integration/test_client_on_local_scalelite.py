"""Our Scalelite and BBB clients against the local Scalelite, over real HTTP on loopback: the pair the
demo and `tick` run on. Each side was built from the protocol facts separately; here they must agree."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bbbsim.scalelite_http import LocalScalelite
from bbbsim.world import SimWorld
from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.config import ScaleliteSettings
from chalicelib.ports import ApiError

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SECRET = "lb-secret-for-tests-0123456789"


@pytest.fixture
def world():
    w = SimWorld(random.Random(1))
    for n in (1, 2):
        w.add_bbb_server(f"bbb{n}", f"secret-{n}", 300.0, NOW)
    return w


@pytest.fixture
def local(world):
    with LocalScalelite(world, SECRET) as scalelite:
        yield scalelite


def client(local, secret=SECRET, algorithm="sha256") -> ScaleliteClient:
    return ScaleliteClient(ScaleliteSettings(url=local.url, checksum=algorithm, retries=0), secret)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_register_enable_place_cordon_delete(world, local, algorithm):
    c = client(local, algorithm=algorithm)
    assert c.servers() == []
    added = c.add(local.server_url("bbb1"), "secret-1", 1.0, None)
    assert added.state == "disabled"
    c.set_state(added.id, "enable")
    world.advance(NOW)  # Scalelite's poller gives it a load: now it can take meetings
    assert world.create_meeting("class-6B", NOW, participants=20, moderators=1, voice=5, video=1) == "bbb1"
    snapshot = c.meetings()
    assert [(m.meeting_id, m.participants, m.voice, m.video) for m in snapshot.meetings] == [
        ("class-6B", 20, 5, 1)
    ]
    c.set_state(added.id, "cordon")
    (seen,) = c.servers()
    assert (seen.state, seen.url) == ("cordoned", local.server_url("bbb1"))
    c.delete(added.id)
    assert c.servers() == []


def test_a_wrong_secret_is_a_checksum_error_not_an_empty_fleet(local):
    with pytest.raises(ApiError) as failed:
        client(local, secret="not-the-secret").meetings()
    assert failed.value.key == "checksumError"
    assert "not-the-secret" not in str(failed.value)


def test_the_servers_own_api_answers_health_meetings_and_recordings(world, local):
    c = client(local)
    added = c.add(local.server_url("bbb2"), "secret-2", 1.0, None)
    c.set_state(added.id, "enable")
    world.advance(NOW)
    world.create_meeting("m1", NOW, participants=3, moderators=1)
    world.set_recordings_pending("bbb2", 2)
    api = BbbApi(local.server_url("bbb2"), "secret-2", retries=0)
    assert api.healthy()
    assert [m.meeting_id for m in api.meetings().meetings] == ["m1"]
    assert api.recordings_pending() == 2
    assert not BbbApi(local.server_url("bbb2"), "wrong-secret", retries=0).healthy()


def test_internal_error_falls_back_to_each_servers_own_answer(world, local):
    from chalicelib.bootstrap import Wiring
    from chalicelib.service.observe import load_snapshot
    from chalicelib.service.service_ports import ObservePorts
    from tests.support.builders import settings

    c = client(local)
    for n in (1, 2):
        added = c.add(local.server_url(f"bbb{n}"), f"secret-{n}", 1.0, None)
        c.set_state(added.id, "enable")
    world.advance(NOW)
    world.create_meeting("a", NOW, participants=4, moderators=1)
    world.create_meeting("b", NOW, participants=6, moderators=1)
    world.set_fault("bbb2", api_error=True)
    with pytest.raises(ApiError) as failed:
        c.meetings()
    assert failed.value.key == "internalError"
    rt = Wiring(settings(), scalelite=c, providers={}).ports()
    problems: list[str] = []
    registered = {s.url: s for s in c.servers()}
    snapshot = load_snapshot(ObservePorts.of(rt), registered, problems)
    assert not snapshot.complete, "one server unread: the snapshot may justify scaling up, never down"
    assert sum(m.participants for m in snapshot.meetings) in (4, 6)
    assert problems == ["Scalelite getMeetings answered internalError"]
