"""The Scalelite port's contract, run over the real client against the local Scalelite (real HTTP on
loopback), the in-process simulated Scalelite, and the hand-written test fake.

What the service relies on (chalicelib/ports.py, service/observe.py, service/actuator.py,
domain/lifecycle.py), after Scalelite's own behaviour (docs/scalelite-and-bbb.md): `add` registers a
server `disabled` and with no load yet; `set_state` takes Scalelite's words (enable, cordon, disable) or
the reported ones and `servers()` then shows the reported state; an unknown word or id is an error that
changes nothing; `delete` forgets the server, and an id Scalelite no longer knows counts as deleted (a
retried delete finds it gone); `meetings()` lists the classes on enabled and cordoned servers, without
saying where, and fails as a whole (ApiError internalError) when one server cannot be read — never "no
load".
"""

from __future__ import annotations

import pytest

from chalicelib.ports import ApiError, ScaleliteServer
from tests.contract.scalelites import ADMIN_KINDS, CLASS_SIZE, KINDS, OPENERS, Balancer


@pytest.fixture(params=KINDS)
def lb(request) -> Balancer:
    with OPENERS[request.param]() as opened:
        yield opened


@pytest.fixture(params=ADMIN_KINDS)
def admin(request) -> Balancer:
    """For the server-admin half of the contract (also run over fakes of the wire only)."""
    with OPENERS[request.param]() as opened:
        yield opened


def registered(lb: Balancer) -> dict[str, ScaleliteServer]:
    return {server.id: server for server in lb.scalelite.servers()}


def test_nothing_registered_is_no_server(admin):
    assert admin.scalelite.servers() == []


def test_nothing_registered_is_no_meeting(lb):
    assert lb.scalelite.meetings().meetings == ()


def test_add_registers_a_disabled_server_with_no_load_yet(admin):
    url = admin.server_url("bbb1")
    added = admin.scalelite.add(url, "secret-of-bbb1", 1.5, "bbbscale")
    assert (added.url, added.state, added.load_multiplier, added.tag) == (url, "disabled", 1.5, "bbbscale")
    assert added.load is None and "secret-of-bbb1" not in repr(added)
    listed = registered(admin)
    assert set(listed) == {added.id}
    assert (listed[added.id].url, listed[added.id].state, listed[added.id].tag) == (
        url,
        "disabled",
        "bbbscale",
    )
    untagged = admin.scalelite.add(admin.server_url("bbb2"), "secret-of-bbb2", 1.0, None)
    assert untagged.tag is None and untagged.id != added.id


@pytest.mark.parametrize(
    "word, shown",
    [
        ("enable", "enabled"),
        ("cordon", "cordoned"),
        ("disable", "disabled"),
        ("enabled", "enabled"),
        ("cordoned", "cordoned"),
    ],
)
def test_set_state_takes_scalelites_words_and_the_reported_ones(admin, word, shown):
    added = admin.scalelite.add(admin.server_url("bbb1"), "secret-of-bbb1", 1.0, None)
    admin.scalelite.set_state(added.id, word)
    assert registered(admin)[added.id].state == shown


def test_an_unknown_state_or_server_is_an_error_that_changes_nothing(admin):
    added = admin.scalelite.add(admin.server_url("bbb1"), "secret-of-bbb1", 1.0, None)
    admin.scalelite.set_state(added.id, "enable")
    before = admin.scalelite.servers()
    with pytest.raises((ValueError, ApiError)):
        admin.scalelite.set_state(added.id, "panic")
    with pytest.raises(ApiError) as unknown:
        admin.scalelite.set_state("no-such-server", "cordon")
    assert unknown.value.key == "notFound"
    assert admin.scalelite.servers() == before


def test_delete_forgets_the_server_and_a_second_delete_is_fine(admin):
    kept = admin.scalelite.add(admin.server_url("bbb1"), "secret-of-bbb1", 1.0, None)
    gone = admin.scalelite.add(admin.server_url("bbb2"), "secret-of-bbb2", 1.0, None)
    admin.scalelite.delete(gone.id)
    assert set(registered(admin)) == {kept.id}
    admin.scalelite.delete(gone.id)
    assert set(registered(admin)) == {kept.id}


def test_meetings_lists_the_classes_of_enabled_and_cordoned_servers_without_saying_where(lb):
    serving = lb.scalelite.add(lb.server_url("bbb1"), "secret-of-bbb1", 1.0, None)
    draining = lb.scalelite.add(lb.server_url("bbb2"), "secret-of-bbb2", 1.0, None)
    lb.scalelite.set_state(serving.id, "enable")
    lb.scalelite.set_state(draining.id, "enable")
    lb.hold_classes(serving.url, 3)
    lb.hold_classes(draining.url, 2)
    lb.scalelite.set_state(draining.id, "cordon")
    snapshot = lb.scalelite.meetings()
    assert len(snapshot.meetings) == 5 and len({m.meeting_id for m in snapshot.meetings}) == 5
    assert sum(m.participants for m in snapshot.meetings) == 5 * CLASS_SIZE
    assert all(m.server is None for m in snapshot.meetings)
    loads = {s.id: s.load for s in lb.scalelite.servers()}
    assert loads[serving.id] > 0 and loads[draining.id] > 0


def test_a_disabled_servers_classes_are_not_listed(lb):
    serving = lb.scalelite.add(lb.server_url("bbb1"), "secret-of-bbb1", 1.0, None)
    lb.scalelite.set_state(serving.id, "enable")
    lb.hold_classes(serving.url, 2)
    lb.scalelite.set_state(serving.id, "disable")
    assert lb.scalelite.meetings().meetings == ()


def test_one_server_that_cannot_be_read_fails_the_whole_answer(lb):
    fine = lb.scalelite.add(lb.server_url("bbb1"), "secret-of-bbb1", 1.0, None)
    broken = lb.scalelite.add(lb.server_url("bbb2"), "secret-of-bbb2", 1.0, None)
    for server in (fine, broken):
        lb.scalelite.set_state(server.id, "enable")
        lb.hold_classes(server.url, 1)
    lb.break_server(broken.url)
    with pytest.raises(ApiError) as failed:
        lb.scalelite.meetings()
    assert failed.value.key == "internalError"
