"""The chat command language and its execution against a fake runtime (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.chat import Followup
from chalicelib.domain.overrides import FLOORS, FREEZE, read_overrides
from chalicelib.ports import UnreachableError
from chalicelib.service import grammar
from chalicelib.service.commands import Caller, execute
from chalicelib.service.grammar import MAX_USERS, parse_command, parse_duration
from tests.support.chat_fakes import (
    OPERATOR,
    FakeRuntime,
    entries,
    reserved,
    serving,
    store_with,
    written_settings,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
OPS = Caller("slack", OPERATOR, "ops")
PUPIL = Caller("slack", "U999", "pupil")


def parse(text: str):
    return parse_command(text, NOW, "Europe/Paris")


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize(
    "text, command",
    [
        ("status", grammar.Status()),
        ("  HELP ", grammar.Help()),
        ("plan 3000", grammar.Plan(3000)),
        ("floor gandi 5 for 2h", grammar.SetFloor("gandi", 5, timedelta(hours=2))),
        ("floor Gandi 5 1d", grammar.SetFloor("gandi", 5, timedelta(days=1))),
        ("floor gandi 0", grammar.SetFloor("gandi", 0, None)),
        ("freeze", grammar.Freeze(None, "")),
        ("freeze 1h30m scalelite upgrade", grammar.Freeze(timedelta(minutes=90), "scalelite upgrade")),
        ("freeze for 30m", grammar.Freeze(timedelta(minutes=30), "")),
        ("unfreeze", grammar.Unfreeze()),
        ("drain bbb-demo-gandi-3", grammar.Drain("bbb-demo-gandi-3")),
        ("history", grammar.History()),
        (
            "reserve tomorrow 08:00 17:00 3000",
            grammar.Reserve(paris(2026, 11, 24, 8), paris(2026, 11, 24, 17), 3000),
        ),
        (
            "reserve demain 8h 17h30 100",
            grammar.Reserve(paris(2026, 11, 24, 8), paris(2026, 11, 24, 17, 30), 100),
        ),
        (
            "reserve wednesday 08:00 friday 18:00 10",
            grammar.Reserve(paris(2026, 11, 25, 8), paris(2026, 11, 27, 18), 10),
        ),
        (
            "reserve 2026-11-30 08:00 12:00 5",
            grammar.Reserve(paris(2026, 11, 30, 8), paris(2026, 11, 30, 12), 5),
        ),
        (
            "reserve 2026-11-24T08:00 2026-11-24T18:00+00:00 500",
            grammar.Reserve(paris(2026, 11, 24, 8), datetime(2026, 11, 24, 18, tzinfo=UTC), 500),
        ),
        (
            "reserve today 09:00 12:00 40",
            grammar.Reserve(paris(2026, 11, 23, 9), paris(2026, 11, 23, 12), 40),
        ),
    ],
)
def test_commands_parse(text, command):
    assert parse(text) == command


@pytest.mark.parametrize(
    "text, problem",
    [
        ("frobnicate", "unknown command"),
        ("plan", "usage: plan"),
        ("plan -3", "whole number"),
        ("plan 0", "between 1"),
        ("floor gandi", "usage: floor"),
        ("floor gandi 5 for", "needs a duration"),
        ("floor gandi 5 for ever", "not a duration"),
        ("freeze 2weeks", "not a duration"),
        ("freeze 100d", "between 1 minute and 90 days"),
        ("status now", "takes no arguments"),
        ("history 0", "N must be between 1 and 50"),
        ("history 51", "N must be between 1 and 50"),
        ("history weather", "'weather': usage: history [N] [ticks|"),
        ("history 5 5", "'5': usage: history"),
        ("history ticks commands", "'commands': usage: history"),
        ("drain", "usage: drain"),
        ("drain a;b", "usage: drain"),
        ("reserve tomorrow 3000", "usage: reserve"),
        ("reserve friday 5 6", "needs a time of day"),
        ("reserve tomorrow 17:00 08:00 3000", "END must be after START"),
        ("reserve today 17:00 08:00 3000", "END must be after START"),
        ("reserve 2020-01-01T08:00 2020-01-01T09:00 5", "already in the past"),
        ("reserve tomorrow 25:00 26:00 5", "not a time of day"),
        ("reserve soon later 5", "not a time"),
        ("reserve tomorrow 08:00 17:00 extra 5", "unexpected 'extra' before USERS"),
        ("reserve 2026-02-30 08:00 09:00 5", "not a date"),
    ],
)
def test_malformed_commands_become_help_with_the_problem(text, problem):
    command = parse(text)
    assert isinstance(command, grammar.Help) and problem in command.problem


@given(st.text(max_size=80))
def test_parsing_never_raises(text):
    assert isinstance(parse(text), grammar.Command.__args__)


@given(st.integers(0, 89), st.integers(0, 23), st.integers(0, 59))
def test_durations_add_up(days, hours, minutes):
    total = timedelta(days=days, hours=hours, minutes=minutes)
    text = f"{days}d{hours}h{minutes}m"
    if total == timedelta(0):
        assert isinstance(parse(f"freeze {text}"), grammar.Help)
    else:
        assert parse_duration(text) == total


def test_open_commands_run_for_anyone_others_only_for_operators():
    owned = [serving(f"bbb-own-{n}", provider="owned") for n in range(1, 5)]
    runtime = FakeRuntime(store=store_with(*owned))
    assert "owned: serving 4" in execute("status", runtime, PUPIL, NOW).text
    for text in (
        "plan 10",
        "freeze",
        "unfreeze",
        "floor gandi 3",
        "drain x",
        "history",
        "reserve today 11:00 12:00 9",
    ):
        assert "only bbbscale operators" in execute(text, runtime, PUPIL, NOW).text
    assert written_settings(runtime.store) == {} and reserved(runtime.store) == {}
    assert [e.actor for e in entries(runtime.store)] == ["slack:U999"] * 8


def test_operators_are_named_by_plain_or_platform_qualified_id():
    operators = ["U1", "rocketchat:abc"]
    assert Caller("slack", "U1").is_operator(operators)
    assert Caller("rocketchat", "abc").is_operator(operators)
    assert not Caller("slack", "abc").is_operator(operators)
    assert not Caller("slack", "").is_operator(operators)


def test_floor_respects_the_provider_limit_and_zero_removes_it():
    runtime = FakeRuntime()
    assert "No provider 'ovh'" in execute("floor ovh 3", runtime, OPS, NOW).text
    assert "at most 30 servers" in execute("floor gandi 31", runtime, OPS, NOW).text
    assert FLOORS not in written_settings(runtime.store)
    reply = execute("floor gandi 12 for 2h", runtime, OPS, NOW)
    assert reply.public and reply.followup is not None
    overrides = read_overrides(runtime.store.settings.get, NOW)
    assert overrides.floor_for("gandi") == 12 and overrides.floors[0].until == NOW + timedelta(hours=2)
    assert read_overrides(runtime.store.settings.get, NOW + timedelta(hours=3)).floor_for("gandi") == 0
    # a removal is a change too: the check runs now, so `status` no longer shows the floor's desired count
    # until the next timer's check
    removed = execute("floor gandi 0", runtime, OPS, NOW)
    assert removed.followup == Followup("floor") and "Running a capacity check" in removed.text
    assert read_overrides(runtime.store.settings.get, NOW).floors == ()


def test_the_same_reservation_twice_is_stored_once():
    runtime = FakeRuntime()
    first = execute("reserve tomorrow 08:00 17:00 3000", runtime, OPS, NOW)
    again = execute("reserve tomorrow 08:00 17:00 3000", runtime, OPS, NOW)
    assert first.followup.reservation_id in reserved(runtime.store)
    assert again.text.startswith("Already reserved") and again.followup is None
    assert len(reserved(runtime.store)) == 1


def test_unfreeze_when_not_frozen_needs_no_check():
    runtime = FakeRuntime()
    assert execute("unfreeze", runtime, OPS, NOW).followup is None
    execute("freeze 1h", runtime, OPS, NOW)
    assert written_settings(runtime.store)[FREEZE]["by"] == "slack:UOPS1"
    assert execute("unfreeze", runtime, OPS, NOW).followup is not None


def test_a_failing_runtime_is_answered_in_chat_and_recorded():
    runtime = FakeRuntime()

    def unreachable():
        raise UnreachableError("state store: connection refused")

    runtime.store.servers.servers = unreachable  # the store answers nothing
    reply = execute("status", runtime, PUPIL, NOW)
    assert reply.text == "Could not do that: state store: connection refused"
    assert "Could not do that" in entries(runtime.store)[-1].summary


def test_history_lists_newest_first():
    runtime = FakeRuntime()
    execute("help", runtime, OPS, NOW)
    execute("freeze 1h", runtime, OPS, NOW + timedelta(minutes=1))
    text = execute("history", runtime, OPS, NOW + timedelta(minutes=2)).text
    lines = text.splitlines()
    assert "freeze 1h" in lines[0] and "help" in lines[1]


def test_history_takes_a_count_and_a_kind():
    # a scale-up of 25 servers writes 75 transitions: the fixed 15 lines showed nothing else
    from chalicelib.ports import HistoryEntry

    runtime = FakeRuntime()
    runtime.store.history.record(HistoryEntry(NOW, "tick", "desired owned 4, gandi 6; start 4 gandi", {}))
    for n in range(30):
        runtime.store.history.record(
            HistoryEntry(NOW + timedelta(seconds=n), "transition", f"bbb-gandi-{n} -> booting: created", {})
        )
    assert parse("history") == grammar.History(15, None)
    assert parse("history 40 servers") == parse("history servers 40") == grammar.History(40, "transition")
    crowded = execute("history", runtime, OPS, NOW + timedelta(minutes=1)).text.splitlines()
    assert len(crowded) == 15 and not any("[tick]" in line for line in crowded)
    ticks = execute("history ticks", runtime, OPS, NOW + timedelta(minutes=1)).text.splitlines()
    assert ticks == ["2026-11-23 11:00 CET [tick] desired owned 4, gandi 6; start 4 gandi"]
    assert len(execute("history 50", runtime, OPS, NOW + timedelta(minutes=2)).text.splitlines()) == 33


def test_an_unexpected_fault_is_still_answered_in_chat():
    runtime = FakeRuntime()
    runtime.settings = runtime.settings.model_copy(update={"mix": None})  # plan cannot read the mix
    reply = execute("plan 10", runtime, OPS, NOW)
    assert reply.text.startswith("Could not do that (internal error")
    assert len(entries(runtime.store)) == 1


@given(
    st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=366)),
    st.integers(1, MAX_USERS),
)
def test_iso_reservations_parse_to_the_same_instants(starts, length, users):
    starts = starts.replace(microsecond=0)
    ends = (starts + length).replace(microsecond=0)
    if ends <= starts:
        return
    command = parse(f"reserve {starts.isoformat()} {ends.isoformat()} {users}")
    assert command == grammar.Reserve(starts, ends, users)


def test_an_owned_pool_server_is_not_drained_by_bbbscale():
    from datetime import UTC, datetime

    from chalicelib.domain.overrides import DRAIN
    from chalicelib.service import commands
    from tests.support.chat_fakes import OPERATOR, FakeRuntime, serving, store_with

    runtime = FakeRuntime(store=store_with(serving("bbb-own-1", provider="owned")))
    reply = commands.execute(
        "drain bbb-own-1", runtime, commands.Caller("slack", OPERATOR, "ops"), datetime.now(UTC)
    )
    assert "owned pool" in reply.text and "never stops" in reply.text
    assert DRAIN not in written_settings(runtime.store)


def test_a_booting_server_drain_says_when_it_applies_and_status_lists_it():
    # "Draining X: it keeps its classes..." for a server still booting, then nothing to see: the request
    # is applied once it serves; the answer says so and `status` lists the pending drain.
    from chalicelib.domain.fleet import ServerState
    from chalicelib.service.commands import describe_status
    from chalicelib.service.status import status
    from tests.support.chat_fakes import OPERATOR, serving

    runtime = FakeRuntime(store=store_with(serving("bbb-gandi-7", state=ServerState.BOOTING)))
    now = datetime.now(UTC)
    reply = execute("drain bbb-gandi-7", runtime, Caller("slack", OPERATOR, "ops"), now)
    assert "still booting" in reply.text and "first capacity check after it serves" in reply.text
    execute("freeze 1h scalelite upgrade", runtime, Caller("slack", OPERATOR, "ops"), now)
    text = describe_status(status(runtime.settings, runtime.store, now))
    assert f"Drain asked: bbb-gandi-7 by slack:{OPERATOR}" in text
    assert ": scalelite upgrade" in text  # the freeze's reason, which status dropped


def test_a_drain_request_ends_with_its_drain():
    # Never removed, a request outlived its server: a `power` provider's server powered on again later
    # would be cordoned at once, and status would list drains done long ago.
    from chalicelib.domain.fleet import ServerState
    from chalicelib.domain.overrides import DRAIN
    from chalicelib.service.observe import _forget_done_drains
    from tests.support.chat_fakes import serving

    runtime = FakeRuntime(store=store_with(serving("a"), serving("b", state=ServerState.STOPPED)))
    runtime.store.settings.put(DRAIN, {"a": {"by": "x"}, "b": {"by": "y"}})
    _forget_done_drains(runtime.store, {s.name: s for s in runtime.store.servers.servers()})
    assert runtime.store.settings.get(DRAIN, None) == {"a": {"by": "x"}}


def test_answers_give_times_in_the_fleets_time_zone():
    """An operator in Paris asks for 08:00 tomorrow and reads 08:00 back, not 07:00+00:00 (chat answers
    and `status` in the configured zone; the stored times keep their offset)."""
    runtime = FakeRuntime()
    assert runtime.settings.timezone == "Europe/Paris"
    reserved = execute("reserve tomorrow 08:00 17:00 3000", runtime, OPS, NOW).text
    assert "from 2026-11-24 08:00 CET to 2026-11-24 17:00 CET" in reserved and "+00:00" not in reserved
    stored = runtime.store.reservations.reservations()[0]
    assert stored.starts_at == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert "Frozen until 2026-11-23 11:30 CET" in execute("freeze 30m", runtime, OPS, NOW).text
    assert "until 2026-11-23 13:00 CET" in execute("floor gandi 12 for 2h", runtime, OPS, NOW).text
    text = execute("status", runtime, OPS, NOW).text
    assert text.startswith("bbbscale status at 2026-11-23 11:00 CET")
    assert "3000 users 2026-11-24 08:00 CET to 2026-11-24 17:00 CET" in text
    assert f"Floor: gandi >= 12 until 2026-11-23 13:00 CET (by slack:{OPERATOR})" in text
    assert "FROZEN until 2026-11-23 11:30 CET" in text
    history = execute("history", runtime, OPS, NOW).text
    assert history.splitlines()[0].startswith("2026-11-23 11:00 CET [command]")
