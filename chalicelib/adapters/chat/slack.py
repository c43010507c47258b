"""Slack slash commands: signature verification, the form fields we use, and replies.

Slack signs each request: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + timestamp
+ ":" + raw body)>` with `X-Slack-Request-Timestamp` within 5 minutes; slack_sdk's SignatureVerifier
does the comparison. A slash command must be answered within 3 seconds; later replies go to the
`response_url` in the form (docs/scalelite-and-bbb.md, chat platforms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from chalicelib.adapters.chat.webhook import post_json
from chalicelib.domain.chat import Caller, CheckNotice, Notice, Reply
from chalicelib.ports import Chat


def verify(signing_secret: str, body: bytes, headers: dict, now: datetime) -> bool:
    """True if Slack signed this body recently with our signing secret."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp") or ""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False  # slack_sdk would raise on int("garbage")
    from slack_sdk.signature import Clock, SignatureVerifier  # here, not at import: slack_sdk costs 0.3 s

    moment = now.timestamp()

    class At(Clock):
        """The verifier reads its clock through this hook (slack_sdk's `Clock`: one method, `now`); we
        pass ours (time is an input). A subclass, as slack_sdk types the hook by its class."""

        def now(self) -> float:
            return moment

    return SignatureVerifier(signing_secret, clock=At()).is_valid(
        body=body, timestamp=timestamp, signature=lowered.get("x-slack-signature")
    )


@dataclass(frozen=True, slots=True)
class SlashCommand:
    """The fields of a slash-command form post that bbbscale uses."""

    user_id: str
    user_name: str
    text: str
    channel_id: str = ""
    response_url: str = field(default="", repr=False)  # a credential for 30 minutes
    trigger_id: str = ""  # Slack's own id of this invocation (a retry carries the same)

    @property
    def caller(self) -> Caller:
        return Caller("slack", self.user_id, self.user_name)


def parse_slash(body: bytes) -> SlashCommand:
    """Read the form; missing fields become "" (an empty user id is never an operator)."""
    form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)

    def one(name: str) -> str:
        return form.get(name, [""])[0]

    return SlashCommand(
        one("user_id"),
        one("user_name"),
        one("text"),
        one("channel_id"),
        one("response_url"),
        one("trigger_id"),
    )


def reply_body(reply: Reply) -> dict:
    """The immediate HTTP answer: shown to the channel for changes, only to the asker otherwise."""
    return {"response_type": "in_channel" if reply.public else "ephemeral", "text": _code(reply.text)}


def _code(text: str) -> str:
    # multi-line answers (status, history, help) are aligned columns: a code block keeps them aligned
    return f"```{text}```" if "\n" in text else text


def post_response(response_url: str, text: str, public: bool = True) -> None:
    """A later answer through `response_url` (valid 5 times in 30 minutes)."""
    post_json(
        response_url,
        {
            "response_type": "in_channel" if public else "ephemeral",
            "replace_original": False,
            "text": _code(text),
        },
        "slack response_url",
    )


# --- the Chat port: notices through the incoming webhook, answers through response_url ------------------
def message(notice: Notice) -> dict:
    """A notice as a Block Kit message. A check: a header, one section per kind of change, the desired
    fleet as context; `text` (the headline) is what notifications show. A reservation: one section, its
    detail as context."""
    if isinstance(notice, CheckNotice):
        blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": notice.title[:150]}}]
        for section in notice.sections:
            body = "\n".join(f"• {line}" for line in section.lines)
            text = f"*{section.title}*\n{body}"[:3000]
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        if notice.footer:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": notice.footer}]})
        return {"text": notice.headline, "blocks": blocks}
    return {
        "text": notice.line,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Capacity reserved* — {notice.line}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": notice.detail[:2000]}]},
        ],
    }


class SlackChat:
    """The Chat port on Slack: notices to the incoming webhook `webhook` (None: not configured), later
    answers to the asker's response_url. Neither URL shows in its repr or its errors."""

    platform = "slack"

    def __init__(self, webhook: str | None):
        self._webhook = webhook

    def __repr__(self) -> str:
        return f"<SlackChat webhook={'set' if self._webhook else 'unset'}>"

    def announce(self, notice: Notice) -> bool:
        if not self._webhook:
            return False
        post_json(self._webhook, message(notice), "slack webhook")
        return True

    def answer(self, reply: dict, text: str) -> bool:
        if reply.get("platform") != self.platform or not reply.get("response_url"):
            return False
        post_response(reply["response_url"], text)
        return True


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Chat] = SlackChat
