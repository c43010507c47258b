"""service/notify.py over the Chat port's fake: what is said to whom, and a failing channel skipped.
(The words as each platform lays them out: tests/integration/test_notify.py over loopback HTTP.)"""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.chat import CheckNotice, ReservationNotice
from chalicelib.ports import Job, Reservation, UnreachableError
from chalicelib.service.notify import announce, notify_tick, run_job
from tests.support.chat_fakes import TICK, RecordingChat, store_with

AT = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_a_tick_is_one_check_notice_per_configured_channel():
    slack, rocket, bare = RecordingChat("slack"), RecordingChat("rocketchat"), RecordingChat(configured=False)
    assert notify_tick(TICK, [slack, rocket, bare], cluster="demo", zone="Europe/Paris") == 2
    ((kind, notice),) = slack.posted
    assert kind == "announce" and rocket.posted == slack.posted and bare.posted == []
    assert isinstance(notice, CheckNotice) and notice.title == "bbbscale demo — capacity check"
    assert [(s.title, s.severity, s.lines) for s in notice.sections] == [
        ("Scale-up", "good", ("start 4 on gandi: load 431.5 above capacity",))
    ]
    assert notice.headline == "bbbscale: scale-up (1)"
    assert notice.footer == "desired: gandi 6, owned 4 · 2026-11-23 09:00 CET"  # the fleet's zone


def test_a_failing_channel_is_skipped_and_the_others_still_hear():
    broken, working = RecordingChat("slack"), RecordingChat("rocketchat")
    broken.fail = UnreachableError("slack webhook: HTTP 500")
    assert announce([broken, working], ReservationNotice("r", "line", "detail")) == 1
    assert working.posted == [("announce", ReservationNotice("r", "line", "detail"))]


def test_a_job_announces_its_reservation_then_answers_the_asker_on_its_platform():
    store = store_with()
    store.reservations.add(
        Reservation("closure-7", AT, AT.replace(hour=17), 3000, zone="eu", note="exams", source="chat:U1")
    )
    slack, rocket = RecordingChat("slack"), RecordingChat("rocketchat")
    job = Job("reserve", "closure-7", reply={"platform": "rocketchat", "channel": "#ops"})
    assert run_job(job, lambda: TICK, store.reservations, [slack, rocket], "Europe/Paris") == TICK
    (announced,) = [notice for _, notice in slack.posted]
    assert announced == ReservationNotice(
        "closure-7",
        "Reservation closure-7: 3000 users, 2026-11-24 09:00 CET → 2026-11-24 18:00 CET",
        "zone eu · exams · from chat:U1",
    )
    assert rocket.posted[0] == ("announce", announced)
    (answer,) = rocket.posted[1:]
    assert answer[:2] == ("answer", {"platform": "rocketchat", "channel": "#ops"})
    assert answer[2].startswith("Capacity check at 2026-11-23 09:00 CET: desired servers gandi 6, owned 4.")


def test_a_notice_and_an_answer_say_why_the_fleet_is_that_size():
    # "start 2 on ikoula: desired 2 > active 0" said what, never why: the need's reason (the forecast,
    # a reservation, an operator's floor, a quota) was only in `tick --json`'s `reasons`.
    from dataclasses import replace

    from chalicelib.domain.tick_document import history_summary
    from chalicelib.service.digest import summary

    why = "forecast: timetable: 10:00 class slot in 8 min, last Monday peaked at 25,020 units + headroom"
    tick = replace(TICK, reasons=(why, "gandi: operator floor 6"))
    slack = RecordingChat("slack")
    notify_tick(tick, [slack], cluster="demo")
    ((_, notice),) = slack.posted
    assert (
        notice.footer == f"desired: gandi 6, owned 4 ({why}; gandi: operator floor 6) · 2026-11-23 08:00 UTC"
    )
    assert f"Why: {why}; gandi: operator floor 6." in summary(tick).splitlines()
    assert f"desired owned 4, gandi 6 ({why}; gandi: operator floor 6); start 4 gandi" in history_summary(
        tick
    )


def test_how_the_load_is_read_is_told_when_it_changes_not_every_minute():
    """The team hears when the load cannot be read (every scale-down held), when it is read from each
    server because Scalelite's getMeetings failed, and when Scalelite's answers again; once each."""
    from dataclasses import replace

    from chalicelib.domain.kinds import HoldKind
    from tests.support.reports import acted

    slack, seen = RecordingChat("slack"), store_with().announced
    quiet = replace(TICK, actions=())
    blind = replace(
        quiet,
        load=None,
        problems=("Scalelite getServers failed: scalelite: connection refused", "DNS records unreadable"),
    )
    direct = replace(
        quiet,
        load=replace(TICK.load, from_servers=True),
        problems=("the load is read from each server's own getMeetings until 09:30 UTC: Scalelite's "
                  "getMeetings timed out at 09:00 UTC (read timeout)",),
    )  # fmt: skip
    held = replace(blind, actions=(acted("hold", "", "lease held", None, hold=HoldKind.LEASE),))

    def told(tick) -> list[tuple[str, str, tuple[str, ...]]]:
        before = len(slack.posted)
        notify_tick(tick, [slack], seen=seen)
        return [(s.title, s.severity, s.lines) for _, n in slack.posted[before:] for s in n.sections]

    assert told(quiet) == []
    assert told(blind) == [
        (
            "Load unknown",
            "danger",
            (
                "Scalelite getServers failed: scalelite: connection refused",
                "every scale-down held until the load is read",
            ),
        )
    ]
    assert told(blind) == [] and told(held) == []  # the same, and a tick that read nothing of its own
    assert told(direct) == [("Load read from the servers", "warning", direct.problems)]
    assert told(direct) == []
    assert told(quiet) == [
        ("Load read again", "good", ("Scalelite's getMeetings answers again: the load comes from it",))
    ]
    assert told(quiet) == []
    assert told(blind) != [] and told(quiet) == [
        ("Load read again", "good", ("the load is read again, from Scalelite's getMeetings",))
    ]
    assert told(replace(blind, dry_run=True)) == [] and seen.load_reading() == ""
