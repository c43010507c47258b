"""Every implementation of the Chat port, behind one `Channel` handle, for the chat contract.

The Slack and Rocket.Chat adapters post real HTTP to a loopback receiver (tests/support/chat_fakes.py)
standing in for the incoming webhook and Slack's response_url; the test fake records what it was asked.
A handle tells the contract, for each post that arrived, whether it went to the team's channel or to the
asker, and its whole text; `break_endpoint()` makes every later post fail.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.adapters.chat.rocketchat import RocketChat
from chalicelib.adapters.chat.slack import SlackChat
from chalicelib.ports import Chat, UnreachableError
from tests.support.chat_fakes import Receiver, RecordingChat

IMPLEMENTATIONS = ["slack", "rocketchat", "fake"]
#: A credential in every endpoint's URL: it must show in no error and no repr.
SECRET = "very-secret-token-7f3a"


@dataclass
class Channel:
    """`chat` posts to a working endpoint; `bare` is the same platform with no channel configured;
    `asker` is someone of this platform to answer; `posts()` takes what arrived since the last call, as
    ("channel" | "asker", its text)."""

    chat: Chat
    bare: Chat
    asker: dict
    posts: Callable[[], list[tuple[str, str]]]
    break_endpoint: Callable[[], None]


def _arrived(receiver: Receiver, where: Callable[[str, dict], str]) -> Callable[[], list[tuple[str, str]]]:
    """Posts are synchronous (the receiver records each before it answers): whatever was posted is in."""

    def posts() -> list[tuple[str, str]]:
        out = []
        while True:
            try:
                path, _, document = receiver.posts.get_nowait()
            except queue.Empty:
                return out
            out.append((where(path, document), json.dumps(document, ensure_ascii=False)))

    return posts


def _fail_from_now_on(receiver: Receiver) -> Callable[[], None]:
    def fail() -> None:
        receiver.status = 500

    return fail


@contextmanager
def slack() -> Iterator[Channel]:
    with Receiver() as receiver:
        webhook = receiver.url(f"/services/T/B/{SECRET}")
        asker = {"platform": "slack", "response_url": receiver.url(f"/commands/{SECRET}")}

        def where(path: str, _: dict) -> str:  # the webhook is the channel; the response_url the asker
            return "channel" if path == urlsplit(webhook).path else "asker"

        yield Channel(
            SlackChat(webhook), SlackChat(None), asker, _arrived(receiver, where), _fail_from_now_on(receiver)
        )


@contextmanager
def rocketchat() -> Iterator[Channel]:
    with Receiver() as receiver:
        webhook = receiver.url(f"/hooks/a/{SECRET}")
        asker = {"platform": "rocketchat", "channel": "#ops"}

        def where(_: str, document: dict) -> str:  # one webhook: an answer names the asker's room
            return "asker" if document.get("channel") == "#ops" else "channel"

        yield Channel(
            RocketChat(webhook),
            RocketChat(None),
            asker,
            _arrived(receiver, where),
            _fail_from_now_on(receiver),
        )


@contextmanager
def fake() -> Iterator[Channel]:
    chat = RecordingChat("slack")

    def posts() -> list[tuple[str, str]]:
        taken, chat.posted[:] = list(chat.posted), []
        return [("channel" if kind == "announce" else "asker", repr(rest)) for kind, *rest in taken]

    def fail() -> None:
        chat.fail = UnreachableError("slack webhook: HTTP 500")

    yield Channel(chat, RecordingChat("slack", configured=False), {"platform": "slack"}, posts, fail)


OPENERS = {"slack": slack, "rocketchat": rocketchat, "fake": fake}
