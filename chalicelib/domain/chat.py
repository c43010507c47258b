"""What the service and the chat platforms say to each other: the verified caller of a command, the
reply, the slow work that follows it, and the notices the team's channels get.

Pure values, shared by service/ (commands, notify) and adapters/chat/ (Slack, Rocket.Chat), so neither
imports the other. The words are the service's; each platform adapter lays them out in its own format
(Slack Block Kit, Rocket.Chat attachments) and posts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified chat user. `actor` ("slack:U123") is what the history records."""

    platform: str  # slack | rocketchat
    user_id: str
    user_name: str = ""

    @property
    def actor(self) -> str:
        return f"{self.platform}:{self.user_id}"

    def is_operator(self, operators: list[str]) -> bool:
        return self.user_id in operators or self.actor in operators


@dataclass(frozen=True, slots=True)
class Followup:
    """Slow work to run after answering: a capacity check, its summary posted back to the asker.
    `reservation_id` names a reservation to announce on the notification channels first."""

    reason: str
    reservation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer: text for the asker; `public` if the whole channel should see it (changes do)."""

    text: str
    public: bool = False
    followup: Followup | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """One kind of change in a notice: its title ("Scale-up"), how urgent it is (good | warning |
    danger: the platform's colour), and one line per change."""

    title: str
    severity: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckNotice:
    """What a capacity check changed, for the team's channels: a title ("bbbscale demo — capacity
    check"), a one-line headline (the plain-text fallback a phone shows), the sections, most urgent
    first, and a footer ("desired: gandi 6, owned 4 · <time>"; empty: none)."""

    title: str
    headline: str
    sections: tuple[Section, ...]
    footer: str = ""


@dataclass(frozen=True, slots=True)
class ReservationNotice:
    """Capacity promised, for the team's channels: the reservation, one line saying what and when,
    and a detail line (zone, note, who asked)."""

    reservation_id: str
    line: str
    detail: str


#: Everything the service announces on the team's channels.
Notice = CheckNotice | ReservationNotice


def local_time(moment: datetime | str | None, zone: str) -> str:
    """A moment as the fleet's operators read it: "2026-12-08 08:00 CET" in the configured zone (chat
    answers and notices; JSON documents keep ISO-8601 with its offset). An ISO string is read first;
    None is "-", and a string that is no time is shown as it is."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
    if moment.tzinfo is None:  # every stored time carries its offset; a naive one is UTC's
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
