"""What the burst guard can tell of Scalelite's poll rounds from getServers alone, and which of its
cordons a round in flight may have silently undone (issue 19 item 1).

Scalelite v1.6.1's poller reads every server record at the start of a round and saves each one after
its own getMeetings. A cordon sent between the two is undone without a trace in the API: the record
still says `cordoned`, getServers shows its load frozen (`cordoned_server_load`), yet the save put the
server back in the placement set (`server_load`) and rooms land on it. The service finds the certain
evidence in the server's rooms (created after the cordon); this module the early one, before any room
lands there:

- a poll save is visible where nothing else moves a reported load: a server reported cordoned at two
  looks whose load changed (creates and joins move only the placement set), an enabled one whose load
  fell (they only add);
- a cordon a round read after it is confirmed by that round: its reported load becomes the poller's
  figure. So a guard cordon whose reported load stayed frozen through a whole round that saved servers
  after the cordon, while the poller's figure from its rooms differs, was either undone by that round or
  saved by it just before the cordon: the guard repairs it (enable then cordon, harmless if it was not
  undone) and says "may have", never "did".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain.load import Meeting

YOUNG_MS = 15 * 60_000  # Scalelite's LOAD_JOIN_BUFFER_TIME: a younger room counts as LOAD_MIN_USER_COUNT
YOUNG_USERS = 15


def poller_load(rooms: Iterable[Meeting], multiplier: float, now_ms: float) -> float:
    """The load Scalelite's poller computes for a server: per non-breakout room participantCount +
    moderatorCount (moderators twice), at least 15 while younger than 15 min, times its multiplier."""
    total = 0
    for m in rooms:
        if m.is_breakout:
            continue
        users = m.participants + m.moderators
        if m.create_time_ms > 0 and now_ms - m.create_time_ms < YOUNG_MS:
            users = max(users, YOUNG_USERS)
        total += users
    return total * multiplier


@dataclass(frozen=True, slots=True)
class Reported:
    """One server as getServers reported it at a look."""

    state: str
    load: float | None


@dataclass(frozen=True, slots=True)
class Round:
    """A poll round seen from the guard's looks: saves seen from `start_ms` (the look before the first)
    to `end_ms` (the last look that saw one)."""

    start_ms: float
    end_ms: float


@dataclass(slots=True)
class Watched:
    """A guard cordon watched until a round confirms it: when it was sent, and the load getServers froze
    it at (None until the first look after it)."""

    sent_ms: float
    frozen: float | None = None


class PollWatch:
    """Rounds seen from the guard's looks, and the guard's cordons watched until a round confirms them."""

    def __init__(self) -> None:
        self._prev: dict[str, Reported] = {}  # at the last look
        self._last_ms: float | None = None
        self._round: Round | None = None  # saves seen, the round still going on
        self.rounds: list[Round] = []  # the last ten rounds seen to end
        self._watch: dict[str, Watched] = {}
        self._saves_ms: float | None = None  # the last look that saw a poll save
        self.turned_disabled: set[str] = set()  # servers reported disabled now, not at the last look
        self.poll_saving = False  # a round saved servers at the last look or the one before

    def cordoned(self, server_id: str, sent_ms: float) -> None:
        """The guard cordoned (or repaired) a server: watch it until a round confirms the cordon."""
        self._watch[server_id] = Watched(sent_ms)

    def released(self, server_id: str) -> None:
        self._watch.pop(server_id, None)

    def look(self, now_ms: float, servers, figures: dict[str, float], acted: set[str]) -> dict[str, str]:
        """One look's getServers. `figures`: the poller's figure from the rooms the guard last read, by
        id; `acted`: servers whose state the guard changed since the last look. Returns the watched
        cordons a round may have undone, each with what was seen."""
        saves = sum(1 for s in servers if s.id not in acted and self._saved(s))
        self.turned_disabled = {
            s.id
            for s in servers
            if s.state == "disabled" and self._prev.get(s.id, Reported("disabled", None)).state != "disabled"
        }
        recent = saves or (self._saves_ms is not None and self._saves_ms == self._last_ms)
        self.poll_saving = bool(recent)
        if saves:
            self._saves_ms = now_ms
            start = (
                self._round.start_ms
                if self._round
                else (self._last_ms if self._last_ms is not None else now_ms)
            )
            self._round = Round(start, now_ms)
        elif self._round is not None:
            self.rounds = [*self.rounds[-9:], self._round]
            self._round = None
        found = {}
        by_id = {s.id: s for s in servers}
        for server_id, watched in list(self._watch.items()):
            s = by_id.get(server_id)
            if s is None or s.state != "cordoned" or s.load is None:
                self._watch.pop(server_id)
                continue
            if watched.frozen is None:
                watched.frozen = s.load
                continue
            if s.load != watched.frozen:  # a round read it cordoned and saved it so: confirmed
                self._watch.pop(server_id)
                continue
            ran = [r for r in self.rounds if r.end_ms > watched.sent_ms]
            figure = figures.get(server_id)
            if ran and figure is not None and abs(figure - watched.frozen) >= 1e-6:
                found[server_id] = (
                    f"a Scalelite poll round ran across its cordon and left its reported load frozen at "
                    f"{watched.frozen:g} (its rooms make {figure:g}): the round may have undone the cordon"
                )
        self._prev = {s.id: Reported(s.state, s.load) for s in servers}
        self._last_ms = now_ms
        return found

    def _saved(self, s) -> bool:
        """A poll save shows where nothing else moves a reported load: a server cordoned at both looks
        whose load changed (creates and joins move only the placement set), an enabled one whose load
        fell (they only add)."""
        before = self._prev.get(s.id)
        if before is None or s.load is None or before.load is None or before.state != s.state:
            return False
        if s.state == "cordoned":
            return s.load != before.load
        return s.state == "enabled" and s.load < before.load
