"""The team's chat channels the environment configures: one `Chat` (chalicelib/ports.py) per platform.

Incoming-webhook URLs are credentials: they come from the environment variables `settings.chat` names,
read when called (Chalice sets stage variables only while it handles an invocation), and stay out of
every repr. What is said, and when, is the service's (service/notify.py); each platform's adapter lays
it out and posts it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from chalicelib.adapters.chat.rocketchat import RocketChat
from chalicelib.adapters.chat.slack import SlackChat
from chalicelib.ports import Chat


@dataclass(frozen=True, slots=True)
class Webhooks:
    """Incoming-webhook URLs (credentials: kept out of reprs). None: that channel is not configured."""

    slack: str | None = field(default=None, repr=False)
    rocketchat: str | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return bool(self.slack or self.rocketchat)

    def chats(self) -> list[Chat]:
        """Each platform's Chat, Slack first; one without its webhook announces nothing (Slack still
        answers askers through their response_url)."""
        return [SlackChat(self.slack), RocketChat(self.rocketchat)]


def webhooks_from_environment(chat, environ=None) -> Webhooks:
    """The URLs from the environment variables that `settings.chat` names (read when called)."""
    environ = os.environ if environ is None else environ
    return Webhooks(
        slack=environ.get(chat.slack_webhook_env) or None,
        rocketchat=environ.get(chat.rocketchat_webhook_env) or None,
    )


def chats_from_environment(chat, environ=None) -> list[Chat]:
    """The Chat of each platform, over the webhooks the environment names now."""
    return webhooks_from_environment(chat, environ).chats()
