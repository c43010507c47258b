"""Rocket.Chat outgoing webhooks: token check, the fields we use, and replies.

An outgoing integration POSTs JSON with `token` (the integration's shared secret), user_id, user_name,
channel_id, channel_name, text and trigger_word; a 200 JSON answer with `text` is posted to the room.
Later messages go through an incoming webhook, which takes `text`, `channel` and `attachments`
(docs/scalelite-and-bbb.md, chat platforms).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.adapters.chat.webhook import post_json
from chalicelib.domain.chat import Caller, CheckNotice, Notice, Reply
from chalicelib.ports import Chat

_COLORS = {"good": "#2eb886", "warning": "#daa038", "danger": "#a30200"}


def verify(expected_token: str, document: dict) -> bool:
    """True if the body carries our integration token (compared in constant time)."""
    token = document.get("token")
    if not isinstance(token, str) or not expected_token:
        return False
    return hmac.compare_digest(token.encode(), expected_token.encode())


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message that matched the integration's trigger word, with the trigger word stripped."""

    user_id: str
    user_name: str
    text: str
    channel_id: str = ""
    channel_name: str = ""
    from_bot: bool = False

    @property
    def caller(self) -> Caller:
        return Caller("rocketchat", self.user_id, self.user_name)

    @property
    def channel(self) -> str | None:
        """Where later messages for this room go through the incoming webhook ("#name")."""
        return f"#{self.channel_name}" if self.channel_name else None


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def parse_outgoing(document: dict) -> OutgoingMessage:
    """Read the fields we use; `text` loses its leading trigger word ("!bbb status" -> "status")."""
    text = _text(document.get("text")).strip()
    trigger = _text(document.get("trigger_word")).strip()
    if trigger and text.lower().startswith(trigger.lower()):
        text = text[len(trigger) :].strip()
    return OutgoingMessage(
        user_id=_text(document.get("user_id")),
        user_name=_text(document.get("user_name")),
        text=text,
        channel_id=_text(document.get("channel_id")),
        channel_name=_text(document.get("channel_name")),
        from_bot=bool(document.get("bot")),
    )


def reply_body(reply: Reply) -> dict:
    """The immediate answer, posted by Rocket.Chat to the room."""
    return {"text": f"```\n{reply.text}\n```" if "\n" in reply.text else reply.text}


def post_incoming(
    webhook_url: str, text: str, channel: str | None = None, attachments: list | None = None
) -> None:
    """A message through an incoming webhook (optionally to another room than the integration's)."""
    document: dict = {"text": text}
    if channel:
        document["channel"] = channel
    if attachments:
        document["attachments"] = attachments
    post_json(webhook_url, document, "rocket.chat webhook")


# --- the Chat port: notices and answers through the incoming webhook -------------------------------------
def message(notice: Notice) -> dict:
    """A notice as `text` plus coloured attachments: for a check, one per kind of change; for a
    reservation, one saying what and when."""
    if isinstance(notice, CheckNotice):
        attachments = [
            {
                "title": section.title,
                "color": _COLORS[section.severity],
                "text": "\n".join(f"• {line}" for line in section.lines),
            }
            for section in notice.sections
        ]
        return {"text": f"*{notice.title}* — {notice.headline}", "attachments": attachments}
    return {
        "text": "*Capacity reserved*",
        "attachments": [
            {
                "title": f"Reservation {notice.reservation_id}",
                "color": _COLORS["good"],
                "text": f"{notice.line}\n{notice.detail}",
            }
        ],
    }


class RocketChat:
    """The Chat port on Rocket.Chat: notices and later answers both go through the incoming webhook
    `webhook` (None: not configured), answers to the asker's room. The URL shows in neither its repr nor
    its errors."""

    platform = "rocketchat"

    def __init__(self, webhook: str | None):
        self._webhook = webhook

    def __repr__(self) -> str:
        return f"<RocketChat webhook={'set' if self._webhook else 'unset'}>"

    def announce(self, notice: Notice) -> bool:
        if not self._webhook:
            return False
        post_json(self._webhook, message(notice), "rocket.chat webhook")
        return True

    def answer(self, reply: dict, text: str) -> bool:
        if reply.get("platform") != self.platform or not self._webhook:
            return False
        post_incoming(self._webhook, text, reply.get("channel"))
        return True


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Chat] = RocketChat
