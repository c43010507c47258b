"""What the team hears in chat: what a tick changed, reservations accepted, and the answer to a check an
operator asked for.

Coalesced: one tick makes at most one notice per channel, and nothing when the tick changed nothing.
Stuck drains, a quota shortfall and how the load is read (unknown, from each server, Scalelite's again)
are told when they start and when they change (given a store to remember them), not every minute. The
words are composed here; each `Chat` adapter lays them out for its platform and posts them. A failing channel is logged and skipped: notifying never breaks a
tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.domain.chat import CheckNotice, Notice, ReservationNotice, Section, local_time
from chalicelib.ports import BbbscaleError, Chat, Job, Reservation, ReservationStore
from chalicelib.service.digest import Digest, digest, is_stuck_drain, summary
from chalicelib.state_ports import AnnouncedNotices

if TYPE_CHECKING:  # the type only: the chat's import of this module stays light (app.py cold start)
    from chalicelib.domain.tick_report import TickReport

log = logging.getLogger(__name__)


def check_notice(found: Digest, cluster: str = "", zone: str = "UTC") -> CheckNotice:
    """The notice of a tick's digest: its sections, most urgent first, and the desired fleet; its time in
    `zone` (the fleet's)."""
    desired = ", ".join(f"{p} {n}" for p, n in sorted(found.desired.items()))
    return CheckNotice(
        title=f"bbbscale {cluster}".strip() + " — capacity check",
        headline=found.headline(),
        sections=tuple(Section(title, severity, lines) for title, severity, lines in found.sections()),
        footer=(
            f"desired: {desired}"
            + (f" ({'; '.join(found.why)})" if found.why else "")
            + f" · {local_time(found.at, zone)}"
        )
        if found.desired
        else "",
    )


def reservation_notice(reservation: Reservation, zone: str = "UTC") -> ReservationNotice:
    """ "Reservation r1: 3000 users, <start> → <end>" (times in `zone`), then its zone, note and who
    asked."""
    span = f"{local_time(reservation.starts_at, zone)} → {local_time(reservation.ends_at, zone)}"
    line = f"Reservation {reservation.id}: {reservation.expected_users} users, {span}"
    detail = " · ".join(
        x
        for x in (
            f"zone {reservation.zone}" if reservation.zone else "",
            reservation.note or "",
            f"from {reservation.source}",
        )
        if x
    )
    return ReservationNotice(reservation.id, line, detail)


def announce(chats: Sequence[Chat], notice: Notice) -> int:
    """Post `notice` on every configured channel; returns the messages delivered."""
    sent = 0
    for chat in chats:
        try:
            sent += bool(chat.announce(notice))
        except BbbscaleError as error:
            log.warning("notification not delivered: %s", error)
    return sent


def _new_stuck_drains(tick_result: TickReport, found: Digest, seen: AnnouncedNotices | None) -> Digest:
    """Drop the stuck-drain lines if the same servers were already announced."""
    if seen is None or tick_result.dry_run:
        return found
    stuck = sorted(
        {str(a.action.server or a.action.provider) for a in tick_result.actions if is_stuck_drain(a)}
    )
    if stuck != seen.stuck_drains():
        seen.keep_stuck_drains(stuck)
        return found
    return replace(found, stuck_drains=())


def _new_shortfall(tick_result: TickReport, found: Digest, seen: AnnouncedNotices | None) -> Digest:
    """Drop the shortfall line if the same number of servers short was already announced: the
    operators hear of it when it starts and when it changes, not every minute."""
    if seen is None or tick_result.dry_run:
        return found
    unmet = tick_result.unmet_servers
    if unmet != seen.shortfall():
        seen.keep_shortfall(unmet)
        return found
    return replace(found, shortfall=())


def _new_reading(tick_result: TickReport, found: Digest, seen: AnnouncedNotices | None) -> Digest:
    """Tell how the load was read only when that changed since the last tick told: unknown, from each
    server, and back to Scalelite's getMeetings (said once, when it comes back)."""
    if seen is None or tick_result.dry_run or tick_result.lease_held:
        return found
    was, now = seen.load_reading(), found.reading
    if now == was:
        return replace(found, load_unknown=(), load_from_servers=())
    seen.keep_load_reading(now)
    if not now:
        back = (
            "the load is read again, from Scalelite's getMeetings"
            if was == "unknown"
            else "Scalelite's getMeetings answers again: the load comes from it"
        )
        return replace(found, load_back=(back,))
    return found


def notify_tick(
    tick_result: TickReport,
    chats: Sequence[Chat],
    seen: AnnouncedNotices | None = None,
    cluster: str = "",
    zone: str = "UTC",
) -> int:
    """Post what `tick_result` (a tick's report) changed: one message per configured channel,
    none for a dry run or a tick that changed nothing. Returns the number of messages delivered."""
    found = _new_stuck_drains(tick_result, digest(tick_result), seen)
    found = _new_reading(tick_result, _new_shortfall(tick_result, found, seen), seen)
    if not found:
        return 0
    return announce(chats, check_notice(found, cluster, zone))


def notify_reservation(reservation: Reservation, chats: Sequence[Chat], zone: str = "UTC") -> int:
    """Announce an accepted reservation on every configured channel; returns messages delivered."""
    return announce(chats, reservation_notice(reservation, zone))


def run_job(
    job: Job,
    check: Callable[[], TickReport],
    reservations: ReservationStore,
    chats: Sequence[Chat],
    zone: str = "UTC",
) -> TickReport | None:
    """Carry out a job: announce its reservation, run one capacity check (`check`: an acting tick), post
    the summary to the asker. Returns the tick's report (None if the check failed; the asker is told
    why)."""
    if job.reservation_id:
        found = [r for r in reservations.reservations() if r.id == job.reservation_id]
        if found:
            notify_reservation(found[0], chats, zone)
    try:
        result = check()
        text = summary(result, zone)
    except BbbscaleError as error:
        result, text = None, f"Capacity check failed: {error}"
    except Exception:
        log.exception("capacity check for %s failed", job.reason)
        result, text = None, "Capacity check failed (internal error; see the logs)."
    if job.reply:
        try:
            for chat in chats:  # the asker's platform answers; the others let it pass
                if chat.answer(job.reply, text):
                    break
        except BbbscaleError as error:
            log.warning("reply for %s not delivered: %s", job.reason, error)
    return result
