"""An unconfirmed create (issue 23, item 5): the intent is recorded (REQUESTED), then the process is
killed before the provider call, or the call's answer is lost. The next tick — which holds the lease, so
the writer's tick is over — asks the provider (its list under our cluster tag, looked up by the intent's
name, which is also EC2's ClientToken) and resolves the record at once: adopted if the VM is there, failed
(and the capacity started again) if not. Before, the record counted as coming capacity for 3 minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.fleet import VM
from chalicelib.domain.fleet import ServerState as S
from chalicelib.domain.planner import decide
from chalicelib.domain.reconcile import reconcile
from tests.support.builders import T0, load_of, observation, owned, server, settings

CFG = settings()
NEXT_TICK = T0 + timedelta(minutes=1)  # the interval; a killed holder's lease lapses within it


def _intent(since=T0):
    from dataclasses import replace

    return replace(
        server("bbbscale-t-cheap-7", state=S.REQUESTED, since=since, scalelite_id=None), vm_id=None
    )


def test_an_intent_the_provider_does_not_know_fails_at_the_next_tick():
    [moved] = reconcile([_intent()], {"cheap": []}, {}, CFG, NEXT_TICK)
    assert moved.state == S.FAILED
    assert "provider lists no VM named bbbscale-t-cheap-7" in moved.reason


def test_an_intent_the_provider_knows_is_adopted_at_the_next_tick():
    vm = VM("cheap", "i-7", "bbbscale-t-cheap-7", "pending", address="203.0.113.7")
    [moved] = reconcile([_intent()], {"cheap": [vm]}, {}, CFG, NEXT_TICK)
    assert moved.state == S.BOOTING and moved.vm_id == "i-7"


@pytest.mark.parametrize("seconds", [0, 10])
def test_an_intent_still_in_its_own_ticks_grace_is_left_alone(seconds):
    assert reconcile([_intent()], {"cheap": []}, {}, CFG, T0 + timedelta(seconds=seconds)) == []


def test_an_intent_of_a_provider_whose_list_failed_is_left_alone():
    assert reconcile([_intent()], {"cheap": None}, {}, CFG, NEXT_TICK) == []


def test_the_lost_intent_is_started_again_in_the_same_tick():
    """The failed intent no longer counts as coming capacity: the planner starts its replacement in the
    tick that resolved it, not three ticks later."""
    records = [*owned(), _intent()]
    [failed] = reconcile(records, {"cheap": []}, {}, CFG, NEXT_TICK)
    fleet = [failed if r.name == failed.name else r for r in records]
    decision = decide(observation(fleet, load_of(4 * 300 + 250, NEXT_TICK), now=NEXT_TICK), CFG)
    starts = [a for a in decision.actions if a.action == "start"]
    assert starts and sum(a.count or 0 for a in starts) >= 1, decision.actions
