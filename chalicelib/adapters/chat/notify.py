"""Notifications to the team's chat: what a tick changed, and reservations accepted.

Coalesced: one tick makes at most one message per channel (a Block Kit message for Slack, `text` +
`attachments` for Rocket.Chat), and nothing when the tick changed nothing. Stuck drains are reported
when the set of stuck servers changes (given a settings store to remember it), not every minute.
A failing channel is logged and skipped: notifying never breaks a tick.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from chalicelib.adapters.chat.webhook import post_json
from chalicelib.ports import BbbscaleError, Reservation, SettingsStore
from chalicelib.service.digest import Digest, digest, is_stuck_drain

if TYPE_CHECKING:
    from chalicelib.domain.tick_report import TickReport

log = logging.getLogger(__name__)

#: Settings-store key remembering which stuck drains were last announced.
ANNOUNCED_STUCK = "notify_stuck_drains"
#: Settings-store key remembering the quota shortfall (servers) last announced.
ANNOUNCED_SHORTFALL = "notify_quota_shortfall"
_COLORS = {"good": "#2eb886", "warning": "#daa038", "danger": "#a30200"}


@dataclass(frozen=True, slots=True)
class Webhooks:
    """Incoming-webhook URLs (credentials: kept out of reprs). None: that channel is not configured."""

    slack: str | None = field(default=None, repr=False)
    rocketchat: str | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return bool(self.slack or self.rocketchat)


def webhooks_from_environment(chat, environ=None) -> Webhooks:
    """The URLs from the environment variables that `settings.chat` names (read when called)."""
    environ = os.environ if environ is None else environ
    return Webhooks(
        slack=environ.get(chat.slack_webhook_env) or None,
        rocketchat=environ.get(chat.rocketchat_webhook_env) or None,
    )


def slack_message(found: Digest, title: str) -> dict:
    """A Block Kit message: a header, then one section per kind of change."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    for heading, _, lines in found.sections():
        body = "\n".join(f"• {line}" for line in lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{heading}*\n{body}"[:3000]}})
    if found.desired:
        desired = ", ".join(f"{p} {n}" for p, n in sorted(found.desired.items()))
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"desired: {desired} · {found.at}"}]}
        )
    return {"text": found.headline(), "blocks": blocks}


def rocketchat_message(found: Digest, title: str) -> dict:
    """`text` plus one coloured attachment per kind of change."""
    attachments = [
        {"title": heading, "color": _COLORS[severity], "text": "\n".join(f"• {line}" for line in lines)}
        for heading, severity, lines in found.sections()
    ]
    return {"text": f"*{title}* — {found.headline()}", "attachments": attachments}


def _send(webhooks: Webhooks, slack: dict, rocketchat: dict) -> int:
    sent = 0
    for channel, url, document in (
        ("slack webhook", webhooks.slack, slack),
        ("rocket.chat webhook", webhooks.rocketchat, rocketchat),
    ):
        if not url:
            continue
        try:
            post_json(url, document, channel)
            sent += 1
        except BbbscaleError as error:
            log.warning("notification not delivered: %s", error)
    return sent


def _new_stuck_drains(tick_result: TickReport, found: Digest, seen: SettingsStore | None) -> Digest:
    """Drop the stuck-drain lines if the same servers were already announced."""
    if seen is None or tick_result.dry_run:
        return found
    stuck = sorted(
        {str(a.action.server or a.action.provider) for a in tick_result.actions if is_stuck_drain(a)}
    )
    previous = seen.get(ANNOUNCED_STUCK, None) or []
    if stuck != previous:
        seen.put(ANNOUNCED_STUCK, stuck)
        return found
    return replace(found, stuck_drains=())


def _new_shortfall(tick_result: TickReport, found: Digest, seen: SettingsStore | None) -> Digest:
    """Drop the shortfall line if the same number of servers short was already announced: the
    operators hear of it when it starts and when it changes, not every minute."""
    if seen is None or tick_result.dry_run:
        return found
    unmet = tick_result.unmet_servers
    if unmet != (seen.get(ANNOUNCED_SHORTFALL, None) or 0):
        seen.put(ANNOUNCED_SHORTFALL, unmet)
        return found
    return replace(found, shortfall=())


def notify_tick(
    tick_result: TickReport, webhooks: Webhooks, seen: SettingsStore | None = None, cluster: str = ""
) -> int:
    """Post what `tick_result` (a tick's report) changed: one message per configured channel,
    none for a dry run or a tick that changed nothing. Returns the number of messages delivered."""
    found = _new_shortfall(tick_result, _new_stuck_drains(tick_result, digest(tick_result), seen), seen)
    if not found or not webhooks:
        return 0
    title = f"bbbscale {cluster}".strip() + " — capacity check"
    return _send(webhooks, slack_message(found, title), rocketchat_message(found, title))


def notify_reservation(reservation: Reservation, webhooks: Webhooks) -> int:
    """Announce an accepted reservation on every configured channel; returns messages delivered."""
    span = f"{reservation.starts_at.isoformat(timespec='minutes')} → {reservation.ends_at.isoformat(timespec='minutes')}"
    line = f"Reservation {reservation.id}: {reservation.expected_users} users, {span}"
    extra = " · ".join(
        x
        for x in (
            f"zone {reservation.zone}" if reservation.zone else "",
            reservation.note or "",
            f"from {reservation.source}",
        )
        if x
    )
    slack = {
        "text": line,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Capacity reserved* — {line}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": extra[:2000]}]},
        ],
    }
    rocketchat = {
        "text": "*Capacity reserved*",
        "attachments": [
            {"title": f"Reservation {reservation.id}", "color": _COLORS["good"], "text": f"{line}\n{extra}"}
        ],
    }
    return _send(webhooks, slack, rocketchat)


def notify_after_tick(runtime, tick_result: TickReport) -> int:
    """What a Runtime does after an acting tick: post it to the channels the environment configures,
    remembering announced stuck drains in the runtime's store. Returns the messages delivered."""
    settings = runtime.settings
    return notify_tick(
        tick_result,
        webhooks_from_environment(settings.chat),
        seen=runtime.store.settings,
        cluster=settings.cluster,
    )
