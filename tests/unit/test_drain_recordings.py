"""A drained server waits for its recordings: every one must have been transferred to Scalelite (BBB
lists none but deleted ones: the image's post-publish transfer deletes its copy), within a bounded wait
past which the server is kept and the operators are told (a hold of kind `recordings`)."""

from datetime import timedelta

import pytest

from chalicelib.domain.decision import ServerCheck
from chalicelib.domain.fleet import ServerState as S
from chalicelib.domain.kinds import HoldKind
from chalicelib.domain.planner import decide
from chalicelib.service.digest import is_stuck_drain
from tests.support.builders import T0, load_of, observation, owned, server, settings, steady

CFG = settings()  # recording_max_wait_minutes 240, drain_report_minutes 120


def decision(recordings: int, draining_minutes: float, cfg=CFG):
    s = server("c0", state=S.DRAINING, billed_minutes_ago=55, since=T0 - timedelta(minutes=draining_minutes))
    obs = observation(
        owned() + [s],
        load_of(0),
        recent=steady({"cheap": 0}),
        checks={"c0": ServerCheck(healthy=True, meetings=0, recordings_pending=recordings)},
    )
    return decide(obs, cfg)


def test_a_drained_server_with_a_recording_not_yet_transferred_is_not_stopped():
    d = decision(recordings=1, draining_minutes=30)
    assert not [a for a in d.actions if a.action == "stop"]
    assert any("1 recording(s) not yet transferred to Scalelite" in n for n in d.notes)
    assert [a.action for a in decision(recordings=0, draining_minutes=30).actions] == ["stop"]


@pytest.mark.parametrize("waited", [240, 241, 600, 10_000])
def test_past_the_bounded_wait_it_is_kept_and_the_operators_are_told(waited):
    d = decision(recordings=2, draining_minutes=waited)
    (hold,) = [a for a in d.actions if a.server == "c0"]
    assert hold.action == "hold" and hold.hold is HoldKind.RECORDINGS
    assert (
        "2 recording(s) not transferred to Scalelite after" in hold.reason
        and "kept, not stopped" in hold.reason
    )


def test_the_bound_is_configurable():
    short = settings(lifecycle={"recording_max_wait_minutes": 20})
    (hold,) = [a for a in decision(recordings=1, draining_minutes=30, cfg=short).actions if a.server == "c0"]
    assert hold.hold is HoldKind.RECORDINGS and "(> 20)" in hold.reason
    assert not [a for a in decision(recordings=1, draining_minutes=10, cfg=short).actions if a.server == "c0"]


def test_the_digest_raises_it_with_the_stuck_drains():
    from chalicelib.domain.kinds import Outcome
    from chalicelib.domain.tick_report import ActionReport

    (hold,) = [a for a in decision(recordings=1, draining_minutes=300).actions if a.server == "c0"]
    assert is_stuck_drain(ActionReport(action=hold, outcome=Outcome.HELD))
