"""Rocket.Chat outgoing webhooks: token check, the fields we use, and replies.

An outgoing integration POSTs JSON with `token` (the integration's shared secret), user_id, user_name,
channel_id, channel_name, text and trigger_word; a 200 JSON answer with `text` is posted to the room.
Later messages go through an incoming webhook, which takes `text`, `channel` and `attachments`
(docs/scalelite-and-bbb.md, chat platforms).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from chalicelib.adapters.chat.webhook import post_json
from chalicelib.service.commands import Caller, Reply


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
