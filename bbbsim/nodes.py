"""The simulated fleet's plain values: a meeting on a BBB server, a BBB server, and an entry of Scalelite's
registry with the URL it is named by. The world (world.py), Scalelite's model (scalelite_model.py) and
its poller (scalelite_poller.py) all speak of them; kept here, below the three, so none of them imports
another only for its types (they were an import circle of three files).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from chalicelib.domain.load import Meeting

COUNTS = frozenset(
    {"participants", "moderators", "voice", "video", "listen_only"}
)  # what resize_meeting sets


@dataclass
class SimMeeting:
    """One running meeting on one BBB server; the counts are what getMeetings reports."""

    meeting_id: str
    server: str
    create_time: datetime
    name: str = ""
    participants: int = 0  # participantCount, moderators included
    moderators: int = 0
    voice: int = 0
    video: int = 0
    listen_only: int = 0
    is_breakout: bool = False
    parent_id: str | None = None
    sequence: int = 0
    voice_bridge: str = "70000"
    metadata: dict[str, str] = field(default_factory=dict)

    create_time_ms: int = field(init=False, default=0)  # epoch ms of create_time, computed once

    def __post_init__(self) -> None:
        self.create_time_ms = int(self.create_time.timestamp() * 1000)

    def __getstate__(self) -> dict:
        """Stored without the domain records `as_meeting` remembers (a read is not a change)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_as_meeting", "_as_listed_meeting")}

    @property
    def internal_id(self) -> str:
        """BBB's internalMeetingID: sha1 of the external id, a dash, the create time in ms."""
        return f"{hashlib.sha1(self.meeting_id.encode()).hexdigest()}-{self.create_time_ms}"

    def as_meeting(self, with_server: bool = True) -> Meeting:
        """The domain record (frozen); the same object while the counts it copies do not change (a replay
        asks for ~2,000 rooms every minute; most did not change). Each variant, with or without the
        server, is remembered on its own, keyed on the counts: the other fields it copies (id, server,
        breakout, create time) are set when the meeting is created and never assigned again."""
        key = (self.participants, self.moderators, self.voice, self.listen_only, self.video)
        slot = "_as_meeting" if with_server else "_as_listed_meeting"
        cached = self.__dict__.get(slot)
        if cached is not None and cached[0] == key:
            return cached[1]
        meeting = Meeting(
            self.meeting_id,
            self.participants,
            self.moderators,
            self.voice,
            self.listen_only,
            self.video,
            self.is_breakout,
            self.create_time_ms,
            self.server if with_server else None,
        )
        self.__dict__[slot] = (key, meeting)
        return meeting


@dataclass
class BbbNode:
    """One simulated BBB server. `answering` is False while it boots (or never becomes healthy);
    faults: `api_error` (its API answers 500 with garbage), `offline` (it answers nothing).
    `capacity_units` is its size, fixed at power-on: the simulated cloud gives its provider's
    `capacity_units` (SimulatedCloud.vm_capacity), the figure the product plans with."""

    name: str
    host: str
    secret: str = field(repr=False)
    capacity_units: float
    booted_at: datetime
    answering: bool = True
    api_error: bool = False
    offline: bool = False
    version: str = "2.7.12"
    recordings_pending: int = 0

    @property
    def reachable(self) -> bool:
        return self.answering and not self.offline


_NAME_IN_URL = re.compile(r"^(?:sim://([^/]+)|https?://[^/]+/bbb/([^/]+)/bigbluebutton/api)/?$")


@lru_cache(maxsize=8192)
def name_in_url(url: str) -> str | None:
    """The simulated server a registered URL points at (sim://NAME or .../bbb/NAME/bigbluebutton/api)."""
    match = _NAME_IN_URL.match(url.strip())
    return (match.group(1) or match.group(2)) if match else None


@dataclass
class RegisteredServer:
    """One entry of Scalelite's server registry, as getServers reports it."""

    id: str
    url: str
    secret: str = field(repr=False)
    tag: str | None = None
    state: str = "disabled"
    load_multiplier: float = 1.0
    online: bool = False
    load: float | None = None  # as reported: kept by ScaleliteModel._sync, never set elsewhere
    healthy_counter: int = 0
    unhealthy_counter: int = 0
