"""Scalelite's view of the simulated BBB servers: its server registry, placement and poller.

Modelled on Scalelite v1.6.1 (blindsidenetworks/scalelite: app/models/server.rb, lib/tasks/poll.rake,
app/services/server_update_service.rb, app/controllers/bigbluebutton_api_controller.rb; the same code
as v1.8 for all of this) and checked against the real one by tests/real_scalelite/. Kept apart, as
Scalelite keeps them in Redis:

- the REPORTED state of each server (its record: enabled, cordoned, disabled) and the load getServers
  reports: an enabled server's entry in the placement set, a cordoned one's `cordoned_server_load`
  (frozen between polls: joins do not move it), "unavailable" (None) for a disabled one;
- PLACEMENT (`server_load`): the only set `find_available` picks from, lowest load first (ties by id),
  only untagged servers for a create that asks no tag. A reported state does not make a server
  placeable: a server enabled from disabled (or just added) has no entry until the next poll, and a
  cordon sent during a poll round is undone here but not in the record (scalelite_poller.py).
- `updateServer` (ServerUpdateService + save!) moves a server between the sets only when its state
  changes: `cordon` of a server already reported cordoned writes nothing (it repairs no silent undo);
  `enable` then `cordon` does. `enable` of a cordoned server puts it back at its frozen load.
- a NEW create adds 1 x load_multiplier to its server's entry (`increment_load`, `zadd xx`: a no-op
  outside the set) and so does every join; a create of a meeting Scalelite already knows goes to its
  server and adds nothing. Scalelite stores the meeting on the chosen server BEFORE asking the BBB
  server: a create that fails there stays pinned to that server (the retry goes there again, whatever
  its state) until `poll:meetings` forgets it.
- joins to a meeting on a disabled or offline server are refused (ServerDisabledError): `refused`.
- getMeetings asks each online, non-disabled server in turn; any failure fails the whole call.

For measuring a scaler: `account(now)` integrates the server-seconds during which a server was in the
placement set while reported cordoned (`placeable_cordoned_s`) or disabled (`placeable_disabled_s`);
the replay calls it at every event. An abstract base: `SimWorld` extends it with the BBB servers and
their meetings, and what the model reads of them is declared here (`meetings`, `url_for`, and the
poller's `node_for_url`, `_kill_on`, `on_server`), so the base uses nothing it does not name.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bbbsim.nodes import RegisteredServer as RegisteredServer
from bbbsim.nodes import name_in_url as name_in_url
from bbbsim.scalelite_poller import ScalelitePoller
from chalicelib.ports import ApiError

if TYPE_CHECKING:
    from bbbsim.nodes import SimMeeting

STATES = {"enable": "enabled", "cordon": "cordoned", "disable": "disabled"}


def _least_loaded(entries: list[RegisteredServer], loads: dict[str, float]) -> RegisteredServer | None:
    """The entry with the lowest (placement load, id), as Redis' ZRANGE orders `server_load`, without
    building a key per entry (a week's replay places ~30,000 rooms among ~150 servers)."""
    best, best_load = None, 0.0
    for entry in entries:
        load = loads[entry.id]
        if best is None or load < best_load or (load == best_load and entry.id < best.id):
            best, best_load = entry, load
    return best


class ScaleliteModel(ScalelitePoller):
    """Registry, placement and poller. Thread-safe through the world's single lock. Abstract: the
    world under it (SimWorld) sets `meetings` and `url_for` and defines the poller's abstract methods."""

    meetings: dict[str, SimMeeting]  # every running meeting, by id
    url_for: Callable[[str], str]  # the URL a BBB server is registered with, by its name

    def __init__(self, rng, poll_interval_s: float = 60.0, poll_phase_s: float = 0.0):
        self.lock = threading.RLock()
        self.rng = rng
        self.poll_interval = timedelta(seconds=poll_interval_s)
        self.poll_phase = timedelta(seconds=poll_phase_s)
        self.registry: dict[str, RegisteredServer] = {}
        self.server_load: dict[str, float] = {}  # the placement set, by server id
        self.cordoned_load: dict[str, float] = {}  # cordoned_server_load: what a cordoned one reports
        self.pinned: dict[str, str] = {}  # meeting id -> server id of a create its BBB server failed
        self.last_poll: datetime | None = None  # start of the last round
        self.next_poll: datetime | None = None  # start of the next round (None: phase after first advance)
        self._round: list | None = None  # a round in flight: [(save at, reading)] in time order
        self._round_ends: datetime | None = None
        self.refused: list[tuple[str, str]] = []  # (meeting_id, server) of refused joins
        self.polls = 0
        self.placeable_cordoned_s = 0.0  # server-seconds in server_load while reported cordoned
        self.placeable_disabled_s = 0.0  # ... while reported disabled
        self._accounted_at: datetime | None = None
        self.getmeetings_seconds: dict[str, float] = {}  # BBB server name -> its getMeetings, if slower
        self.clock = None  # the replay's clock: an updateServer is accounted at its time
        self.look_cost = None  # bbbsim/look_cost.LookCost, when a replay charges the guard's looks
        self._by_url: dict[str, RegisteredServer] = {}  # count_join's index, checked on every use

    # --- the reported record ------------------------------------------------------------------------
    def _reported_load(self, entry: RegisteredServer) -> float | None:
        """The load getServers shows: Server.all reads it from the set its record's state names."""
        if entry.state == "enabled":
            return self.server_load.get(entry.id)
        if entry.state == "cordoned":
            return self.cordoned_load.get(entry.id)
        return None

    def _sync(self, entry: RegisteredServer) -> None:
        entry.load = self._reported_load(entry)

    def placement_set(self) -> dict[str, float]:
        """A copy of `server_load`: {server id: load} of the servers a create can go to."""
        with self.lock:
            return dict(self.server_load)

    def account(self, now: datetime) -> None:
        """Add the server-seconds since the last call during which servers were placeable while
        reported cordoned or disabled (the state in between is constant: call it before each change)."""
        with self.lock:
            last, self._accounted_at = self._accounted_at, now
            if last is None or now <= last or not self.server_load:
                return
            seconds = (now - last).total_seconds()
            for server_id in self.server_load:
                entry = self.registry.get(server_id)
                if entry is not None and entry.state == "cordoned":
                    self.placeable_cordoned_s += seconds
                elif entry is not None and entry.state == "disabled":
                    self.placeable_disabled_s += seconds

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
        refuse a URL it already has. `state`/`online` other than the defaults seed a pre-existing fleet
        (as polled at load 0)."""
        if not url or not secret:
            raise ValueError("Server needs a URL and a secret")
        with self.lock:
            server_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            entry = RegisteredServer(
                server_id, url, secret, tag or None, state, float(load_multiplier) or 1.0, online
            )
            if online and state == "enabled":
                self.server_load[server_id] = 0.0
            elif online and state == "cordoned":
                self.cordoned_load[server_id] = 0.0
            self.registry[server_id] = entry
            self._sync(entry)
            return replace(entry)

    def update_server(
        self,
        server_id: str,
        state: str | None = None,
        load_multiplier: float | None = None,
        secret: str | None = None,
        tag: str | None = None,
    ) -> RegisteredServer:
        """updateServer: state is enable|cordon|disable (Scalelite refuses anything else); tag "" clears.
        A state change moves the server between the sets (Server#save!: handle_<state>_state); the same
        state again changes nothing."""
        with self.lock:
            entry = self._entry(server_id)
            if self.clock is not None:
                self.account(self.clock())
            new = None
            if state:
                new = STATES.get(state)
                if new is None:
                    raise ValueError(f"Invalid state parameter: {state}")
            if load_multiplier is not None and float(load_multiplier) == 0:
                raise ValueError("Load-multiplier must be a non-zero number")
            if new is not None and new != entry.state:
                self._move(entry, new)
            if load_multiplier is not None:
                entry.load_multiplier = float(load_multiplier)
            if secret:
                entry.secret = secret
            if tag is not None:
                entry.tag = tag or None
            self._sync(entry)
            return replace(entry)

    def _move(self, entry: RegisteredServer, new: str) -> None:
        """save! of a state change: `self.load ||= ` the other set's score, then the new state's sets."""
        load = self._reported_load(entry)
        if load is None:
            load = (
                self.server_load.get(entry.id)
                if new == "cordoned"
                else self.cordoned_load.get(entry.id)
                if new == "enabled"
                else None
            )
        entry.state = new
        if new == "enabled":
            if load is not None:
                self.server_load[entry.id] = load
            self.cordoned_load.pop(entry.id, None)
        elif new == "cordoned":
            if load is not None:
                self.cordoned_load[entry.id] = load
            self.server_load.pop(entry.id, None)
        else:
            self.server_load.pop(entry.id, None)
            self.cordoned_load.pop(entry.id, None)

    def delete_server(self, server_id: str) -> None:
        """deleteServer: forgets the entry. Like Scalelite it does not look for meetings: they keep
        running on the BBB server but vanish from getMeetings (see `hidden_meetings`)."""
        with self.lock:
            self._entry(server_id)
            del self.registry[server_id]
            self.server_load.pop(server_id, None)
            self.cordoned_load.pop(server_id, None)

    def panic_server(self, server_id: str, keep_state: bool = False) -> list[str]:
        """panicServer: ends every meeting on the server (counted as killed); disables it unless
        keep_state. Nothing automatic should ever call this."""
        with self.lock:
            entry = self._entry(server_id)
            node = self.node_for_url(entry.url)
            killed = self._kill_on(node.name, "panicServer") if node else []
            if not keep_state and entry.state != "disabled":
                self._move(entry, "disabled")
                self._sync(entry)
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
    def place(self, tag: str | None = None, meeting_id: str | None = None) -> str | None:
        """Server.find_available: the server name a new meeting goes to, or None (no server in the
        placement set for it). Adds 1 x load_multiplier to its entry. A meeting whose earlier create
        failed on its BBB server goes back to that server, adding nothing."""
        pinned = self.registry.get(self.pinned.get(meeting_id or "", ""))
        if pinned is not None:
            node = self.node_for_url(pinned.url)
            return node.name if node else None
        required = tag is not None and tag.endswith("!")
        tags = set((tag or "").rstrip("!").split(";")) - {""}
        candidates = [e for e in map(self.registry.get, self.server_load) if e is not None]
        chosen = [e for e in candidates if (e.tag or "none") in tags] if tags else []
        if not chosen:
            if required:
                return None
            chosen = [e for e in candidates if e.tag is None]
        entry = _least_loaded(chosen, self.server_load)
        if entry is None:
            return None
        self.server_load[entry.id] += entry.load_multiplier
        self._sync(entry)
        node = self.node_for_url(entry.url)
        if node is None or not node.reachable or node.api_error:
            if meeting_id:
                self.pinned[meeting_id] = entry.id  # "Unable to create meeting on server."
            return None
        return node.name

    def _forget_failed_creates(self) -> None:
        """poll:meetings: a pinned meeting whose server answers getMeetingInfo `notFound` is forgotten."""
        for meeting_id, server_id in list(self.pinned.items()):
            entry = self.registry.get(server_id)
            node = self.node_for_url(entry.url) if entry else None
            if entry is None or (node is not None and node.reachable and not node.api_error):
                if meeting_id not in self.meetings:
                    del self.pinned[meeting_id]

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
        """Each join adds 1 x multiplier to its server's placement entry, if it has one (zadd xx):
        whatever the reported state, and never to a cordoned server's reported load."""
        entry = self.entry_of(server)
        if entry is not None and entry.id in self.server_load:
            self.server_load[entry.id] += entry.load_multiplier * users
            self._sync(entry)

    def refuses_joins(self, server: str) -> bool:
        """Scalelite's join answers ServerDisabledError for a meeting on a disabled or offline server."""
        entry = self.entry_of(server)
        return entry is not None and (entry.state == "disabled" or not entry.online)

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

    def _listing(self) -> list[SimMeeting]:
        found: list[SimMeeting] = []
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
