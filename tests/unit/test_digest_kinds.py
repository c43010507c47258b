"""The digest sorts a tick's actions by their kinds (domain/kinds.py), never by the words of a reason:
what the chat tells operators cannot change when a reason is reworded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.decision import ACTIONS
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.render import action_json
from chalicelib.service.digest import digest, shortfall
from tests.support.reports import acted, tick_report


def test_a_stuck_drain_is_known_by_its_kind_whatever_its_reason_says():
    stuck = acted("hold", "gandi", "long wait", Outcome.HELD, server="g-1", hold=HoldKind.STUCK_DRAIN)
    worded = acted("hold", "gandi", "drain not verified", Outcome.HELD, server="g-2", hold=HoldKind.DOUBT)
    found = digest(tick_report(stuck, worded))
    assert found.stuck_drains == ("hold g-1: long wait",)


def test_the_shortfall_is_told_in_the_words_of_the_quota_hold_only():
    other = acted("hold", "*", "frozen: quota talks postponed", Outcome.HELD, hold=HoldKind.FROZEN)
    quota = acted("hold", "*", "3 servers beyond every provider's limit", Outcome.HELD, hold=HoldKind.QUOTA)
    assert shortfall(tick_report(other, quota, unmet_servers=3)) == (
        "3 servers beyond every provider's limit",
    )
    assert shortfall(tick_report(other, unmet_servers=3)) == ("quotas cannot supply 3 more servers",)
    assert shortfall(tick_report(quota)) == ()  # nothing unmet: nothing to tell


def test_failed_and_skipped_are_outcomes_not_prefixes():
    failed = acted(
        "cordon", "gandi", "skipped: a reason can say anything", Outcome.FAILED, "503", server="g-1"
    )
    skipped = acted("register", "gandi", "failed once before", Outcome.SKIPPED, "not due", server="g-2")
    found = digest(tick_report(failed, skipped))
    assert found.failures == ("cordon g-1: skipped: a reason can say anything (failed: 503)",)
    assert not found.scale_ups and not found.scale_downs


outcomes = st.sampled_from(list(Outcome))
details = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(st.sampled_from([a for a in ACTIONS if a != "hold"]), outcomes, details)
def test_the_result_word_is_the_outcome_and_a_failure_is_exactly_a_failed_outcome(verb, outcome, detail):
    report = acted(verb, "gandi", "why", outcome, detail, server="g-1")
    result = action_json(report)["result"]
    assert result == (f"{outcome.value}: {detail}" if detail else outcome.value)
    found = digest(tick_report(report))
    assert bool(found.failures) == (outcome is Outcome.FAILED)
    assert not (found.scale_ups or found.scale_downs or found.replacements) or outcome is not Outcome.SKIPPED
