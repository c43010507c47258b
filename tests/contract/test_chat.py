"""The Chat port's contract, run over every implementation: the Slack and Rocket.Chat adapters posting
real HTTP to a loopback stand-in for their endpoints, and the hand-written test fake.

What the service relies on (chalicelib/ports.py `Chat`, service/notify.py): a notice is one post on the
team's channel carrying all of its words, and True; a platform with no channel configured posts nothing
and says False; an answer is one post reaching the asker with the whole text; an asker of another
platform is left to that platform (False, nothing posted); a post that fails is an UnreachableError
naming the platform, and no URL (each is a credential) shows in an error or a repr.
"""

from __future__ import annotations

import pytest

from chalicelib.domain.chat import CheckNotice, ReservationNotice, Section
from chalicelib.ports import Chat, UnreachableError
from tests.contract.chats import IMPLEMENTATIONS, OPENERS, SECRET, Channel

CHECK = CheckNotice(
    title="bbbscale demo — capacity check",
    headline="bbbscale: failures (1), scale-up (1)",
    sections=(
        Section("Failures", "danger", ("start 2 on ikoula: gandi quota (failed: quota exceeded)",)),
        Section("Scale-up", "good", ("start 4 on gandi: 431.5 units need 6", "uncordon bbb-demo-gandi-3")),
    ),
    footer="desired: gandi 6, owned 4 · 2026-11-23T08:00:00+00:00",
)
RESERVED = ReservationNotice(
    "closure-7",
    "Reservation closure-7: 3000 users, 2026-11-24T08:00+00:00 → 2026-11-24T17:00+00:00",
    "from cli",
)
SUMMARY = "Capacity check at 2026-11-23T08:00:00+00:00: desired servers gandi 6.\nNothing to change."


@pytest.fixture(params=IMPLEMENTATIONS)
def channel(request) -> Channel:
    with OPENERS[request.param]() as opened:
        yield opened


def words(notice: CheckNotice) -> list[str]:
    return [notice.title, notice.headline] + [w for s in notice.sections for w in (s.title, *s.lines)]


def test_it_is_the_chat_port_and_its_repr_keeps_the_url_out(channel):
    for chat in (channel.chat, channel.bare):
        assert isinstance(chat, Chat) and chat.platform in ("slack", "rocketchat")
        assert SECRET not in repr(chat)


def test_a_check_notice_is_one_post_on_the_channel_with_all_its_words(channel):
    assert channel.chat.announce(CHECK) is True
    ((where, text),) = channel.posts()
    assert where == "channel"
    assert [w for w in words(CHECK) if w not in text] == []


def test_a_reservation_notice_says_what_and_when(channel):
    assert channel.chat.announce(RESERVED) is True
    ((where, text),) = channel.posts()
    assert where == "channel" and RESERVED.line in text and RESERVED.detail in text


def test_without_a_channel_nothing_is_announced(channel):
    assert channel.bare.announce(CHECK) is False and channel.bare.announce(RESERVED) is False
    assert channel.posts() == []


def test_an_answer_reaches_the_asker_with_the_whole_text(channel):
    assert channel.chat.answer(channel.asker, SUMMARY) is True
    ((where, text),) = channel.posts()
    assert where == "asker" and all(line in text for line in SUMMARY.splitlines())


def test_an_asker_of_another_platform_is_left_to_it(channel):
    other = "rocketchat" if channel.chat.platform == "slack" else "slack"
    assert channel.chat.answer({**channel.asker, "platform": other}, SUMMARY) is False
    assert channel.posts() == []


def test_a_failed_post_is_an_unreachable_error_naming_the_platform_and_no_url(channel):
    channel.break_endpoint()
    for post in (lambda: channel.chat.announce(CHECK), lambda: channel.chat.answer(channel.asker, SUMMARY)):
        with pytest.raises(UnreachableError) as raised:
            post()
        said = str(raised.value)
        assert said.lower().replace(".", "").startswith(channel.chat.platform), said
        assert SECRET not in said and "http://" not in said
