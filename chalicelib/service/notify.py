"""What the team hears in chat: what a tick changed, reservations accepted, and the answer to a check an
operator asked for.

Coalesced: one tick makes at most one notice per channel, and nothing when the tick changed nothing.
Stuck drains and a quota shortfall are told when they start and when they change (given a settings
store to remember them), not every minute. The words are composed here; each `Chat` adapter lays them
out for its platform and posts them. A failing channel is logged and skipped: notifying never breaks a
tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from chalicelib.domain.chat import CheckNotice, Notice, ReservationNotice, Section
from chalicelib.ports import BbbscaleError, Chat, Job, Reservation, ReservationStore, SettingsStore
from chalicelib.service.digest import Digest, digest, is_stuck_drain, summary

log = logging.getLogger(__name__)

#: Settings-store key remembering which stuck drains were last announced.
ANNOUNCED_STUCK = "notify_stuck_drains"
#: Settings-store key remembering the quota shortfall (servers) last announced.
ANNOUNCED_SHORTFALL = "notify_quota_shortfall"


def check_notice(found: Digest, cluster: str = "") -> CheckNotice:
    """The notice of a tick's digest: its sections, most urgent first, and the desired fleet."""
    desired = ", ".join(f"{p} {n}" for p, n in sorted(found.desired.items()))
    return CheckNotice(
        title=f"bbbscale {cluster}".strip() + " — capacity check",
        headline=found.headline(),
        sections=tuple(Section(title, severity, lines) for title, severity, lines in found.sections()),
        footer=f"desired: {desired} · {found.at}" if found.desired else "",
    )


def reservation_notice(reservation: Reservation) -> ReservationNotice:
    """ "Reservation r1: 3000 users, <start> → <end>", then its zone, note and who asked."""
    span = (
        f"{reservation.starts_at.isoformat(timespec='minutes')} → "
        f"{reservation.ends_at.isoformat(timespec='minutes')}"
    )
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


def _new_stuck_drains(tick_result: dict, found: Digest, seen: SettingsStore | None) -> Digest:
    """Drop the stuck-drain lines if the same servers were already announced."""
    if seen is None or tick_result.get("dry_run"):
        return found
    stuck = sorted(
        {
            str(a.get("server") or a.get("provider"))
            for a in tick_result.get("actions") or []
            if is_stuck_drain(a)
        }
    )
    previous = seen.get(ANNOUNCED_STUCK, None) or []
    if stuck != previous:
        seen.put(ANNOUNCED_STUCK, stuck)
        return found
    return replace(found, stuck_drains=())


def _new_shortfall(tick_result: dict, found: Digest, seen: SettingsStore | None) -> Digest:
    """Drop the shortfall line if the same number of servers short was already announced: the
    operators hear of it when it starts and when it changes, not every minute."""
    if seen is None or tick_result.get("dry_run"):
        return found
    unmet = int(tick_result.get("unmet_servers") or 0)
    if unmet != (seen.get(ANNOUNCED_SHORTFALL, None) or 0):
        seen.put(ANNOUNCED_SHORTFALL, unmet)
        return found
    return replace(found, shortfall=())


def notify_tick(
    tick_result: dict, chats: Sequence[Chat], seen: SettingsStore | None = None, cluster: str = ""
) -> int:
    """Post what `tick_result` (a `tick --json` document) changed: one message per configured channel,
    none for a dry run or a tick that changed nothing. Returns the number of messages delivered."""
    found = _new_shortfall(tick_result, _new_stuck_drains(tick_result, digest(tick_result), seen), seen)
    if not found:
        return 0
    return announce(chats, check_notice(found, cluster))


def notify_reservation(reservation: Reservation, chats: Sequence[Chat]) -> int:
    """Announce an accepted reservation on every configured channel; returns messages delivered."""
    return announce(chats, reservation_notice(reservation))


def run_job(
    job: Job, check: Callable[[], dict], reservations: ReservationStore, chats: Sequence[Chat]
) -> dict | None:
    """Carry out a job: announce its reservation, run one capacity check (`check`: an acting tick), post
    the summary to the asker. Returns the tick document (None if the check failed; the asker is told
    why)."""
    if job.reservation_id:
        found = [r for r in reservations.reservations() if r.id == job.reservation_id]
        if found:
            notify_reservation(found[0], chats)
    try:
        result = check()
        text = summary(result)
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
