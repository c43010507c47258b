"""Scalelite's view of the simulated BBB servers: its server registry, placement and poller.

Modelled on Scalelite v1.8 (blindsidenetworks/scalelite: app/models/server.rb, lib/tasks/poll.rake,
app/services/server_update_service.rb, app/controllers/bigbluebutton_api_controller.rb). Quirks kept on
purpose, because a scaler must live with them:

- a server's load is only set by the poller; between polls each NEW `create` and each `join` adds
  1 x load_multiplier (`Server#increment_load`), only on an enabled server (a no-op unless the server is
  in the `server_load` set); a create of a meeting that already runs adds nothing. A server just enabled
  from disabled has no load yet, so it gets no meetings before the next poll; a disabled server never
  has a load; a cordoned one keeps its last load aside (joins to it add nothing) until enabled again.
- the poller (lib/tasks/poll.rake) runs rounds on its own clock: a round reads every server record and
  its meetings at its start, saves the records at its end (`round_seconds` later: 4 worker threads,
  `seconds_per_server` each) and then SLEEPS `POLL_INTERVAL` (default 60 s): rounds drift against any
  other clock. The save writes back the state read at the round's start, so a state change made during
  a round is undone (a cordon or an enable issued mid-round must be checked again after it).
- the poller's load = sum over non-breakout meetings of participantCount + moderatorCount (moderators
  count twice), a meeting younger than 15 min counting as at least 15, times load_multiplier.
- placement (`Server.find_available`) picks the lowest load among enabled servers with a load; with no
  tag asked, ONLY UNTAGGED servers qualify (tagged ones get only meetings that ask for their tag).
- joins to a meeting on a disabled or offline server are refused (ServerDisabledError): counted in
  `refused`.
- the poller polls every registered server; two failed polls in a row take an online server offline
  and Scalelite ends every meeting on it; one good poll brings it back; a cordoned server polled at
  load 0 turns disabled.
- getMeetings asks each online, non-disabled server in turn; any failure fails the whole call.

`SimWorld` extends this class; it relies on the world's `nodes`, `meetings`, `on_server`, `_kill_on`
and `lock`.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from chalicelib.ports import ApiError

STATES = {"enable": "enabled", "cordon": "cordoned", "disable": "disabled"}
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
    load: float | None = None
    healthy_counter: int = 0
    unhealthy_counter: int = 0


def _least_loaded(entries: list[RegisteredServer]) -> RegisteredServer | None:
    """The entry with the lowest (load, id), as `min(entries, key=...)` picks it, without building a key
    per entry (a week's replay places ~30,000 rooms among ~150 servers)."""
    best = None
    for entry in entries:
        if best is None or entry.load < best.load or (entry.load == best.load and entry.id < best.id):
            best = entry
    return best


class ScaleliteModel:
    """Registry, placement and poller. Thread-safe through the world's single lock."""

    young_room_minutes = 15  # LOAD_JOIN_BUFFER_TIME
    young_room_users = 15  # LOAD_MIN_USER_COUNT
    healthy_threshold = 1  # SERVER_HEALTHY_THRESHOLD
    unhealthy_threshold = 2  # SERVER_UNHEALTHY_THRESHOLD

    poll_threads = 4  # POLLER_THREADS (5) - 1 workers per round
    seconds_per_server = 0.1  # one getMeetings of a BBB server, as the poller waits for it

    def __init__(self, rng, poll_interval_s: float = 60.0, poll_phase_s: float = 0.0):
        self.lock = threading.RLock()
        self.rng = rng
        self.poll_interval = timedelta(seconds=poll_interval_s)
        self.poll_phase = timedelta(seconds=poll_phase_s)
        self.registry: dict[str, RegisteredServer] = {}
        self.last_poll: datetime | None = None  # start of the last round
        self.next_poll: datetime | None = None  # start of the next round (None: phase after first advance)
        self._round: tuple[datetime, list] | None = None  # a round in flight: (saves at, readings)
        self.refused: list[tuple[str, str]] = []  # (meeting_id, server) of refused joins
        self.polls = 0
        self._by_url: dict[str, RegisteredServer] = {}  # count_join's index, checked on every use

    # --- admin API --------------------------------------------------------------------------------------
    def add_server(
        self,
        url: str,
        secret: str,
        load_multiplier: float = 1.0,
        tag: str | None = None,
        state: str = "disabled",
        online: bool = False,
    ) -> RegisteredServer:
        """addServer: a new entry, disabled and offline until enabled and polled. Scalelite does not
        refuse a URL it already has. `state`/`online` other than the defaults seed a pre-existing fleet."""
        if not url or not secret:
            raise ValueError("Server needs a URL and a secret")
        with self.lock:
            server_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            entry = RegisteredServer(
                server_id, url, secret, tag or None, state, float(load_multiplier) or 1.0, online
            )
            if online and state != "disabled":
                entry.load = 0.0
            self.registry[server_id] = entry
            return replace(entry)

    def update_server(
        self,
        server_id: str,
        state: str | None = None,
        load_multiplier: float | None = None,
        secret: str | None = None,
        tag: str | None = None,
    ) -> RegisteredServer:
        """updateServer: state is enable|cordon|disable (Scalelite refuses anything else); tag "" clears."""
        with self.lock:
            entry = self._entry(server_id)
            if state:
                new = STATES.get(state)
                if new is None:
                    raise ValueError(f"Invalid state parameter: {state}")
            if load_multiplier is not None and float(load_multiplier) == 0:
                raise ValueError("Load-multiplier must be a non-zero number")
            if state:
                entry.state = new
                if new == "disabled":
                    entry.load = None  # a disabled server leaves the load set
            if load_multiplier is not None:
                entry.load_multiplier = float(load_multiplier)
            if secret:
                entry.secret = secret
            if tag is not None:
                entry.tag = tag or None
            return replace(entry)

    def delete_server(self, server_id: str) -> None:
        """deleteServer: forgets the entry. Like Scalelite it does not look for meetings: they keep
        running on the BBB server but vanish from getMeetings (see `hidden_meetings`)."""
        with self.lock:
            self._entry(server_id)
            del self.registry[server_id]

    def panic_server(self, server_id: str, keep_state: bool = False) -> list[str]:
        """panicServer: ends every meeting on the server (counted as killed); disables it unless
        keep_state. Nothing automatic should ever call this."""
        with self.lock:
            entry = self._entry(server_id)
            node = self.node_for_url(entry.url)
            killed = self._kill_on(node.name, "panicServer") if node else []
            if not keep_state:
                entry.state, entry.load = "disabled", None
            return killed

    def scalelite_servers(self) -> list[RegisteredServer]:
        with self.lock:
            return [replace(s) for s in self.registry.values()]

    def scalelite_server(self, server_id: str) -> RegisteredServer:
        with self.lock:
            return replace(self._entry(server_id))

    def _entry(self, server_id: str) -> RegisteredServer:
        entry = self.registry.get(server_id)
        if entry is None:
            raise KeyError(f"Couldn't find server with id={server_id}")
        return entry

    def hidden_meetings(self) -> list[str]:
        """Meetings running on BBB servers Scalelite no longer lists (deleted with meetings on them)."""
        with self.lock:
            known = {name_in_url(s.url) for s in self.registry.values()}
            return sorted(m.meeting_id for m in self.meetings.values() if m.server not in known)

    # --- placement --------------------------------------------------------------------------------------
    def place(self, tag: str | None = None) -> str | None:
        """Server.find_available: the server name a new meeting goes to, or None. Bumps its load by 1."""
        required = bool(tag) and tag.endswith("!")
        tags = set((tag or "").rstrip("!").split(";")) - {""}
        if not tags and not required:  # no tag asked (the usual create): only untagged servers qualify
            chosen = [
                s
                for s in self.registry.values()
                if s.tag is None and s.state == "enabled" and s.load is not None
            ]
        else:
            candidates = [s for s in self.registry.values() if s.state == "enabled" and s.load is not None]
            chosen = [s for s in candidates if (s.tag or "none") in tags] if tags else []
            if not chosen:
                if required:
                    return None
                chosen = [s for s in candidates if s.tag is None]
        entry = _least_loaded(chosen)
        if entry is None:
            return None
        node = self.node_for_url(entry.url)
        if node is None or not node.reachable or node.api_error:
            return None  # Scalelite would fail the create: "Unable to create meeting on server."
        entry.load += entry.load_multiplier
        return node.name

    def entry_of(self, server: str) -> RegisteredServer | None:
        """The registry entry of a BBB server by name (remembered; checked on every use)."""
        url = self.url_for(server)
        entry = self._by_url.get(url)
        if (
            entry is None
            or self.registry.get(entry.id) is not entry  # registry changed: look again
            or (entry.url != url and name_in_url(entry.url) != server)
        ):
            entry = next(
                (e for e in self.registry.values() if e.url == url or name_in_url(e.url) == server), None
            )
            if entry is None:
                return None
            self._by_url[url] = entry
        return entry

    def count_join(self, server: str, users: int = 1) -> None:
        """Each join also bumps the load of the meeting's server by 1 x multiplier, if it is enabled."""
        entry = self.entry_of(server)
        if entry is not None and entry.load is not None and entry.state == "enabled":
            entry.load += entry.load_multiplier * users

    def refuses_joins(self, server: str) -> bool:
        """Scalelite's join answers ServerDisabledError for a meeting on a disabled or offline server."""
        entry = self.entry_of(server)
        return entry is not None and (entry.state == "disabled" or not entry.online)

    # --- poller -----------------------------------------------------------------------------------------
    @property
    def round_seconds(self) -> float:
        """How long one round takes: every server's getMeetings, `poll_threads` at a time."""
        return -(-len(self.registry) // self.poll_threads) * self.seconds_per_server

    def next_poll_event(self) -> datetime | None:
        """When the poller next does something (a round's save, or the next round's start)."""
        with self.lock:
            return self._round[0] if self._round is not None else self.next_poll

    def run_poller(self, now: datetime) -> int:
        """Run the poller's rounds (start, then save) due by `now`, in order; the count of rounds saved.
        Called at each event time by the replay, so rounds happen at their own seconds. A poller that
        fell more than two intervals behind (a replay jumping over a night) starts again from `now`."""
        saved = 0
        with self.lock:
            while True:
                if self._round is not None:
                    ends, readings = self._round
                    if ends > now:
                        return saved
                    self._round = None
                    self._save_round(readings)
                    self.next_poll = ends + self.poll_interval  # sleeps AFTER the round: rounds drift
                    saved += 1
                    continue
                if self.next_poll is None:
                    self.next_poll = now + self.poll_phase
                if self.next_poll > now:
                    return saved
                if now - self.next_poll > 2 * self.poll_interval:
                    self.next_poll = now
                start = self.next_poll
                self.last_poll = start
                self._round = (start + timedelta(seconds=self.round_seconds), self._read_round(start))

    def poll_if_due(self, now: datetime) -> bool:
        """Run whatever the poller has due by `now`; True when a round was saved."""
        return self.run_poller(now) > 0

    def poll(self, now: datetime) -> None:
        """One whole round of Scalelite's server poller at once (read and save at `now`)."""
        with self.lock:
            self.last_poll = now
            self._save_round(self._read_round(now))

    def _read_round(self, at: datetime) -> list:
        """What a round reads at its start: each record as it is then, and its meetings' attendees
        (None when the server cannot be read)."""
        young_since = at - timedelta(minutes=self.young_room_minutes)
        readings = []
        for entry in self.registry.values():
            node = self.node_for_url(entry.url)
            if node and node.reachable and not node.api_error and node.secret == entry.secret:
                readings.append((entry, entry.state, node.name, self._attendees(node.name, young_since)))
            else:
                readings.append((entry, entry.state, node.name if node else None, None))
        return readings

    def _attendees(self, name: str, young_since: datetime) -> int:
        """The poller's count: participantCount + moderatorCount of each non-breakout meeting, a meeting
        created after `young_since` counting at least young_room_users."""
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

    def _save_round(self, readings: list) -> None:
        """The round's `server.save!` of each record it read: the state read at the start is written
        back (undoing a state change made during the round), the load is the count read then."""
        self.polls += 1
        for entry, state, name, total in readings:
            if self.registry.get(entry.id) is not entry:
                continue  # deleted during the round
            if entry.state != state:
                entry.state = state
                if state == "disabled":
                    entry.load = None
            if total is None:
                self._poll_failed(entry, name)
            else:
                self._poll_ok(entry, total)

    def _poll_ok(self, entry: RegisteredServer, total: int) -> None:
        """A good poll of `total` attendees (young rooms counted as at least young_room_users)."""
        entry.unhealthy_counter = 0
        if not entry.online:
            entry.healthy_counter += 1
            if entry.healthy_counter < self.healthy_threshold:
                return
            entry.healthy_counter, entry.online = 0, True
        entry.load = total * entry.load_multiplier
        if entry.state == "cordoned" and entry.load == 0:
            entry.state = "disabled"
        if entry.state == "disabled":
            entry.load = None

    def _poll_failed(self, entry: RegisteredServer, name: str | None) -> None:
        entry.healthy_counter = 0
        if not entry.online:
            return
        entry.unhealthy_counter += 1
        if entry.unhealthy_counter < self.unhealthy_threshold:
            return
        if name is not None:
            self._kill_on(name, "scalelite: server offline after failed polls")
        entry.unhealthy_counter, entry.online, entry.load = 0, False, None

    # --- getMeetings ------------------------------------------------------------------------------------
    def scalelite_meetings(self) -> list:
        """Scalelite's getMeetings: every online, non-disabled server's meetings, concatenated. Raises
        ApiError as Scalelite answers: internalError when a server cannot be read, or the server's own
        FAILED key (e.g. checksumError when the registered secret is wrong). Returns copies."""
        with self.lock:
            return [replace(m, metadata=dict(m.metadata)) for m in self._listing()]

    def scalelite_load(self) -> list:
        """The same listing as domain meetings without a server (getMeetings does not say where)."""
        with self.lock:
            return [m.as_meeting(False) for m in self._listing()]  # False: without the server

    def _listing(self) -> list:
        found = []
        for entry in self.registry.values():
            if not entry.online or entry.state == "disabled":
                continue
            node = self.node_for_url(entry.url)
            if node is None or not node.reachable:
                raise ApiError("internalError", "Unable to access server.")
            if node.api_error:
                raise ApiError("internalError", "Response did not include returncode")
            if node.secret != entry.secret:
                raise ApiError("checksumError", "You did not pass the checksum security check")
            found.extend(self.on_server.get(node.name, {}).values())
        return found
