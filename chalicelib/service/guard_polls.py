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
  fell (they only add) or rose by more than its rooms' creates and joins since the last read (+1 each):
  the poller counts a young room as 15 users where the creates and joins counted its teacher's 2 (the
  rooms are read after getServers, so joins in between count in the rooms one look before they count
  in the load: guard_reads.py carries that lead to the next look, or a server drawing a flurry of
  creates looked like a save, and a round that did not happen repaired five cordons at once);
- a cordon a round read after it is confirmed by that round: its reported load becomes the poller's
  figure. So a guard cordon whose reported load stayed frozen through a whole round that saved servers
  after the cordon, while the poller's figure from its rooms differs, was either undone by that round or
  saved by it just before the cordon: the guard repairs it (enable then cordon, harmless if it was not
  undone) and says "may have", never "did". A round is judged whole only once it has had a round's
  length (`round_ms`) from the look before its first save seen: saves come in batches of four servers,
  many show nothing, and a look between two batches sees none (on the real bench, taking such a pause
  for the round's end repaired six cordons at once that the round had not saved yet);
- a round is seen only through servers whose save would move their reported load. At the first class
  of a day nothing has ended and the server the guard cordons is the only one that took rooms: a round
  in flight then saves nothing the guard can see, and the cordon it undoes stays placeable until rooms
  land on it (5.0 s once on the real bench). A cordon sent where the watch could not have seen a round
  (no server whose save would show, a round seen saving at that look, or no reading before it) is
  repaired once, blind, when a round in flight at the cordon would have ended (`round_ms`), unless a
  round was seen to end since; at a look more than a round's cut (15 s) later than that, no longer (the
  guard's reads of its held servers' rooms find any room that lands).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chalicelib.domain.load import Meeting

YOUNG_MS = 15 * 60_000  # Scalelite's LOAD_JOIN_BUFFER_TIME: a younger room counts as LOAD_MIN_USER_COUNT
YOUNG_USERS = 15
SAVE_RISE = 8.0  # a rise past the creates and joins by more than half a young room's 15: a poll's save
ROUND_WORKERS = 4  # Scalelite's POLLER_THREADS (default 5) less one: the servers a round reads at once
ROUND_CUT_S = 15.0  # POLLER_WAIT_TIMEOUT (10 s) and the 5 s the poller's pool gets to end: no round is longer
ROUND_SPARE_S = 0.5


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


def users_of(rooms: Iterable[Meeting]) -> dict[str, int]:
    """Each room's participants (moderators included), as Scalelite's joins counted them: breakout rooms
    are joined on BBB directly and count nothing."""
    return {m.meeting_id: m.participants for m in rooms if not m.is_breakout}


def increments(before: Mapping[str, int], now: Mapping[str, int]) -> int:
    """The fewest +1s Scalelite's creates and joins gave a server between two reads of its rooms: a new
    room's create and each of its participants' joins, each known room's new participants."""
    return sum(users + 1 if mid not in before else max(0, users - before[mid]) for mid, users in now.items())


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
    """A guard cordon watched until a round confirms it: when it was sent, the load getServers froze it
    at (None until the first look after it), why a round across it could have gone unseen ("" when one
    would have shown; None until the first look after it), and whether it is already a repair."""

    sent_ms: float
    frozen: float | None = None
    unseen: str | None = None
    repair: bool = False


class PollWatch:
    """Rounds seen from the guard's looks, and the guard's cordons watched until a round confirms them."""

    def __init__(self) -> None:
        self._prev: dict[str, Reported] = {}  # at the last look
        self._last_ms: float | None = None
        self._fresh = True  # the last look had no reading before it
        self._round: Round | None = None  # saves seen, the round still going on
        self.rounds: list[Round] = []  # the last ten rounds seen to end
        self._watch: dict[str, Watched] = {}
        self._saves_ms: float | None = None  # the last look that saw a poll save
        self._showing: set[str] = set()  # servers whose save would have shown at the last look
        self.turned_disabled: set[str] = set()  # servers reported disabled now, not at the last look
        self.poll_saving = False  # a round saved servers at the last look or the one before

    def cordoned(self, server_id: str, sent_ms: float, repair: bool = False) -> None:
        """The guard cordoned (or repaired) a server: watch it until a round confirms the cordon."""
        self._watch[server_id] = Watched(sent_ms, repair=repair)

    def released(self, server_id: str) -> None:
        self._watch.pop(server_id, None)

    def round_ms(self, servers: int, read_seconds: float) -> float:
        """How long a poll round may take to save every server: Scalelite reads `ROUND_WORKERS` servers at
        a time, each as slow as the guard's slowest read, or the middle length of the last rounds seen
        (from the look before a round's first save to its last) where that is longer; never past the
        poller's cut; `ROUND_SPARE_S` more."""
        estimate = math.ceil(max(servers, 1) / ROUND_WORKERS) * read_seconds
        if len(self.rounds) >= 3:
            estimate = max(estimate, statistics.median(r.end_ms - r.start_ms for r in self.rounds) / 1000)
        return (min(estimate, ROUND_CUT_S) + ROUND_SPARE_S) * 1000

    def look(
        self,
        now_ms: float,
        servers,
        figures: Mapping[str, float],
        acted: set[str],
        unexplained: Mapping[str, float] | None = None,
        round_ms: float | None = None,
    ) -> dict[str, str]:
        """One look's getServers. `figures`: the poller's figure from the rooms the guard last read, by
        id; `acted`: servers whose state the guard changed since the last look; `unexplained`: by id, how
        far an enabled server's load rose past what its rooms' creates and joins explain since its last
        read (in users: the load's rise over its multiplier); `round_ms`: how long a round may take to save every server
        (None: unknown; a round is over when a look sees no more saves, and nothing is repaired blind).
        Returns the watched cordons a round may have undone, each with what was seen."""
        unexplained = unexplained or {}
        saves = sum(1 for s in servers if s.id not in acted and self._saved(s, unexplained.get(s.id, 0.0)))
        self.turned_disabled = {
            s.id
            for s in servers
            if s.state == "disabled" and self._prev.get(s.id, Reported("disabled", None)).state != "disabled"
        }
        unseen_then = self._unseen_at_last_look(acted)
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
                watched.unseen = "" if watched.repair else unseen_then(server_id)
            elif s.load != watched.frozen:  # a round read it cordoned and saved it so: confirmed
                self._watch.pop(server_id)
                continue
            # a round seen across the cordon, and over: a look without saves can fall between two of its
            # batches (invisible saves), so its verdict waits until the round has had its length
            across = [r for r in (*self.rounds, self._round) if r is not None and r.end_ms > watched.sent_ms]
            ran = [
                r
                for r in across
                if r is not self._round and (round_ms is None or now_ms >= r.start_ms + round_ms)
            ]
            figure = figures.get(server_id)
            if ran:
                if figure is not None and abs(figure - watched.frozen) >= 1e-6:
                    found[server_id] = (
                        f"a Scalelite poll round ran across its cordon and left its reported load frozen at "
                        f"{watched.frozen:g} (its rooms make {figure:g}): the round may have undone the cordon"
                    )
            elif (
                not across
                and watched.unseen
                and round_ms is not None
                and round_ms <= now_ms - watched.sent_ms < round_ms + ROUND_CUT_S * 1000
            ):
                found[server_id] = (
                    f"was cordoned {(now_ms - watched.sent_ms) / 1000:.1f} s ago where {watched.unseen}, and "
                    f"a round in flight then would have saved it by now: the round may have undone the cordon"
                )
        self._showing = {s.id for s in servers if self._would_show(s, figures.get(s.id))}
        self._fresh = not self._prev
        self._prev = {s.id: Reported(s.state, s.load) for s in servers}
        self._last_ms = now_ms
        return found

    def _unseen_at_last_look(self, acted: set[str]):
        """Why a round in flight at the last look's cordons could have gone unseen, for one of them ("":
        it would have shown)."""
        if self._fresh:  # True until a look has had one before it
            reason = "the guard had no earlier reading of Scalelite's loads"
        elif self.poll_saving:
            reason = "a Scalelite poll round was saving servers"
        else:
            reason = ""
        others = self._showing - acted

        def why(server_id: str) -> str:
            if reason:
                return reason
            if others - {server_id}:
                return ""
            return "no other server's poll save would have shown in Scalelite's loads"

        return why

    def _saved(self, s, unexplained: float) -> bool:
        """A poll save shows where nothing else moves a reported load: a server cordoned at both looks
        whose load changed (creates and joins move only the placement set), an enabled one whose load
        fell (they only add) or rose past what its rooms' creates and joins explain."""
        before = self._prev.get(s.id)
        if before is None or s.load is None or before.load is None or before.state != s.state:
            return False
        if s.state == "cordoned":
            return s.load != before.load
        if s.state != "enabled":
            return False
        return s.load < before.load or unexplained >= SAVE_RISE  # `unexplained` is in users

    @staticmethod
    def _would_show(s, figure: float | None) -> bool:
        """A poll round saving `s` now would show at the next look: its reported load is not the poller's
        figure from its rooms, in a direction creates and joins cannot take it (down, or up past them)."""
        if figure is None or s.load is None:
            return False
        unit = s.load_multiplier or 1.0
        if s.state == "cordoned":
            return abs(figure - s.load) >= 1e-6
        return s.state == "enabled" and (
            s.load - figure >= 2 * unit or figure - s.load >= (SAVE_RISE + 2) * unit
        )
