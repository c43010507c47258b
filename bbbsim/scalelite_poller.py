"""Scalelite's poller (`rake poll`), as Scalelite v1.6.1 runs it (lib/tasks/poll.rake, app/models/server.rb).

- A round (`poll:servers`) reads every server record at its start (`Server.all`: its state, online flag
  and the load it reports), then asks each server's getMeetings on a pool of POLLER_THREADS - 1 = 4
  workers. Each server is saved (`server.save!`) as soon as its own getMeetings answered: its save time
  follows the getMeetings times of the servers before it on the pool (`seconds_per_server` each).
  `wait!(POLLER_WAIT_TIMEOUT = 10 s)`, then `wait_for_termination(5)` and `kill`: a server whose
  answer comes more than 15 s into the round is never saved. The poller then SLEEPS its interval after
  the round, so rounds drift against any clock.
- `save!` writes the state only when the poller changed it (a cordoned server polled at load 0 becomes
  disabled); otherwise it writes the load it computed into the set of the state it READ at the round's
  start, and only if that load differs from the one it read (`load_changed?`). So a cordon sent while
  the round runs is silently undone for placement: the server is back in `server_load` with its new
  load, while getServers still says cordoned with the load frozen at the cordon. A disable sent
  mid-round likewise (placeable, reported disabled, joins refused). An enable of a server read as
  disabled writes nothing: it waits for the next round.
- load = sum over non-breakout meetings of participantCount + moderatorCount (moderators twice), a
  meeting younger than LOAD_JOIN_BUFFER_TIME (15 min) counting at least LOAD_MIN_USER_COUNT (15),
  times load_multiplier. Two failed polls in a row of an online server: offline, its meetings ended.
- `poll:meetings` runs beside it and forgets Scalelite's record of a meeting its server says it does
  not have (a failed create stops being pinned to its server then).

`ScaleliteModel` builds on this abstract base: what a round reads and writes of the model (its registry,
placement sets, lock) and of the world under it (its BBB servers and their meetings) is declared below,
each part defined by the class that owns it, so nothing here reaches for what only a subclass has.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bbbsim.nodes import BbbNode, RegisteredServer, SimMeeting

#: What a round reads of a record at its start: (record, state, online, reported load).
Reading = tuple["RegisteredServer", str, bool, "float | None"]


class ScalelitePoller(ABC):
    """The poller's rounds. State lives on the model (`registry`, `server_load`, `cordoned_load`)."""

    # Set by the model (ScaleliteModel.__init__):
    lock: AbstractContextManager[Any]  # the world's one lock (bbbsim/shared.py may swap it)
    registry: dict[str, RegisteredServer]
    server_load: dict[str, float]
    cordoned_load: dict[str, float]
    poll_interval: timedelta
    poll_phase: timedelta
    last_poll: datetime | None
    next_poll: datetime | None
    polls: int
    _round: list[tuple[datetime, Reading]] | None
    _round_ends: datetime | None
    # Set by the world (SimWorld.__init__): each BBB server's meetings, by server name.
    on_server: dict[str, dict[str, SimMeeting]]

    young_room_minutes = 15  # LOAD_JOIN_BUFFER_TIME
    young_room_users = 15  # LOAD_MIN_USER_COUNT
    healthy_threshold = 1  # SERVER_HEALTHY_THRESHOLD
    unhealthy_threshold = 2  # SERVER_UNHEALTHY_THRESHOLD
    poll_threads = 4  # POLLER_THREADS (5) - 1 workers per round
    wait_timeout_s = 10.0  # POLLER_WAIT_TIMEOUT
    termination_s = 5.0  # pool.wait_for_termination(5), then kill
    seconds_per_server = 0.1  # one getMeetings of a BBB server, as the poller waits for it
    getmeetings_seconds: dict[str, float]  # per BBB server name, where it differs (set by the model)

    @abstractmethod
    def node_for_url(self, url: str) -> BbbNode | None:
        """The BBB server a registered URL points at (the world's), None when none is powered on."""

    @abstractmethod
    def _kill_on(self, server: str, reason: str) -> list[str]:
        """End every meeting on a BBB server, counted as killed (the world's); their ids."""

    @abstractmethod
    def _reported_load(self, entry: RegisteredServer) -> float | None:
        """The load getServers shows for a record (the model's)."""

    @abstractmethod
    def _sync(self, entry: RegisteredServer) -> None:
        """Keep a record's reported load in step with the placement sets (the model's)."""

    @abstractmethod
    def account(self, now: datetime) -> None:
        """Integrate the placeable-while-cordoned/disabled server-seconds up to `now` (the model's)."""

    @abstractmethod
    def _forget_failed_creates(self) -> None:
        """poll:meetings' part of a round (the model's)."""

    def _schedule(self, start: datetime) -> list[tuple[datetime, Reading]]:
        """Each record as the round reads it, with the time its save! happens (killed ones left out)."""
        registry = self.registry
        return [
            (start + timedelta(seconds=ends), self._read(registry[server_id]))
            for ends, server_id in self._schedule_times()
        ]

    def _read(self, entry: RegisteredServer) -> Reading:
        """What `Server.all` gives the round: the record, its state, online flag and reported load."""
        return (entry, entry.state, entry.online, self._reported_load(entry))

    @property
    def round_seconds(self) -> float:
        """How long one round takes: every server's getMeetings, `poll_threads` at a time (capped)."""
        if self.getmeetings_seconds:
            times = self._schedule_times()
            if len(times) < len(self.registry):  # some were killed: the round ended at the cap
                return self.wait_timeout_s + self.termination_s
            return max((at for at, _ in times), default=0.0)
        waves = -(-len(self.registry) // self.poll_threads)
        return min(waves * self.seconds_per_server, self.wait_timeout_s + self.termination_s)

    def _schedule_times(self) -> list[tuple[float, str]]:
        """(seconds into the round, server id) of each save, the pool's workers taking servers in turn."""
        workers = [0.0] * self.poll_threads
        out = []
        for entry in self.registry.values():
            begins = heapq.heappop(workers)
            node = self.node_for_url(entry.url) if self.getmeetings_seconds else None
            ends = begins + self.getmeetings_seconds.get(node.name if node else "", self.seconds_per_server)
            heapq.heappush(workers, ends)
            if ends <= self.wait_timeout_s + self.termination_s:
                out.append((ends, entry.id))
        return sorted(out)

    @property
    def round_in_flight(self) -> bool:
        with self.lock:
            return self._round is not None

    def next_poll_event(self) -> datetime | None:
        """When the poller next does something (a server's save, or the next round's start)."""
        with self.lock:
            if self._round is not None:
                return self._round[0][0] if self._round else self._round_ends
            return self.next_poll

    def begin_round(self, at: datetime) -> None:
        """Start a round at `at`: every record read now, each saved at its own time (`run_poller`)."""
        with self.lock:
            self.last_poll = at
            self._round = self._schedule(at)
            self._round_ends = at + timedelta(seconds=self.round_seconds)
            self.polls += 1

    def finish_round(self) -> None:
        """Save what the round in flight has left at once (a test standing in for its seconds)."""
        with self.lock:
            while self._round:
                self._save(*self._round.pop(0))
            self._end_round()

    def _end_round(self) -> None:
        ends = self._round_ends
        assert ends is not None, "a round in flight has its end"
        self._round = None
        self._forget_failed_creates()
        self.next_poll = ends + self.poll_interval  # sleeps AFTER the round: rounds drift

    def run_poller(self, now: datetime) -> int:
        """Run the poller's starts and saves due by `now`, in order; the count of rounds finished.
        A poller that fell more than two intervals behind (a replay jumping over a night) starts again
        from `now`."""
        finished = 0
        with self.lock:
            while True:
                if self._round is not None:
                    if self._round and self._round[0][0] <= now:
                        at, reading = self._round.pop(0)
                        self.account(at)
                        self._save(at, reading)
                        continue
                    if self._round or (self._round_ends is not None and self._round_ends > now):
                        return finished
                    self._end_round()
                    finished += 1
                    continue
                if self.next_poll is None:
                    self.next_poll = now + self.poll_phase
                if self.next_poll > now:
                    return finished
                if now - self.next_poll > 2 * self.poll_interval:
                    self.next_poll = now
                self.account(self.next_poll)
                self.begin_round(self.next_poll)

    def poll_if_due(self, now: datetime) -> bool:
        """Run whatever the poller has due by `now`; True when a round finished."""
        return self.run_poller(now) > 0

    def poll(self, now: datetime) -> None:
        """One whole round of Scalelite's server poller at once (read and save at `now`)."""
        with self.lock:
            self.begin_round(now)
            self._round_ends = now
            self._round = [(now, reading) for _, reading in self._round or ()]
            self.finish_round()

    # --- one server's save! -------------------------------------------------------------------------------
    def _save(self, at: datetime, reading: Reading) -> None:
        entry, state, online, read_load = reading
        if self.registry.get(entry.id) is not entry:
            return  # deleted during the round: save! raises RecordNotSaved
        node = self.node_for_url(entry.url)
        answered = node is not None and node.reachable and not node.api_error and node.secret == entry.secret
        load, new_state, new_online = read_load, state, online
        if answered and node is not None:
            entry.unhealthy_counter = 0
            total = self._attendees(node.name, at - timedelta(minutes=self.young_room_minutes))
            if online:
                load = total * entry.load_multiplier
            else:
                entry.healthy_counter += 1
                if entry.healthy_counter < self.healthy_threshold:
                    return
                entry.healthy_counter = 0
                load, new_online = total * entry.load_multiplier, True
            if state == "cordoned" and not load:
                new_state = "disabled"
        else:
            entry.healthy_counter = 0
            if not online:
                return
            entry.unhealthy_counter += 1
            if entry.unhealthy_counter < self.unhealthy_threshold:
                return
            if node is not None:
                self._kill_on(node.name, "scalelite: server offline after failed polls")
            entry.unhealthy_counter, load, new_online = 0, None, False
        entry.online = new_online
        if new_state == "disabled":
            load = read_load = None  # save! ignores load changes of a disabled record
        if new_state != state:  # written: whatever the state is now (an enable sent mid-round is lost)
            entry.state = new_state
            self.server_load.pop(entry.id, None)
            self.cordoned_load.pop(entry.id, None)
        elif load != read_load:  # into the set of the state READ at the round's start
            target = self.server_load if state == "enabled" else self.cordoned_load
            if load is None:
                target.pop(entry.id, None)
            else:
                target[entry.id] = load
        self._sync(entry)

    def _attendees(self, name: str, young_since: datetime) -> int:
        """participantCount + moderatorCount of each non-breakout meeting, a meeting created after
        `young_since` counting at least young_room_users."""
        total = 0
        young_users = self.young_room_users
        for meeting in self.on_server.get(name, {}).values():
            if meeting.is_breakout:
                continue
            attendees = meeting.participants + meeting.moderators
            if attendees < young_users and meeting.create_time > young_since:
                attendees = young_users
            total += attendees
        return total
