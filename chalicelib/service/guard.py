"""The burst guard's loop: look every few seconds around class starts (and on a surge of creates), decide
(chalicelib/domain/guard.py), act only through Scalelite's admin API (updateServer state).

One look: Scalelite's getServers (its load moves with every create and join of an enabled server), each
server's own getMeetings where something changed and, every `cordoned_read_seconds`, of each server it
holds cordoned (Scalelite freezes a cordoned server's load between polls: only its own getMeetings shows
pupils joining, and rooms Scalelite placed there after a cordon a poll undid), the store's records
(which servers bbbscale means to serve). Cordons the guard made are kept in the state store
(its ledger, chalicelib/state_ports.py GuardLedger), apart from drains, each with an expiry its looks
renew: the tick's reconciliation reads them so a live guard's cordon is never taken for a drain, and
enables those no live guard renewed. The guard only ever enables servers whose present state it set
itself and that are still meant to serve: a server someone else enabled, cordoned or disabled is no
longer the guard's. Every change goes to the history (kind `guard`) with its reason. After each burst,
the spread of rooms and load per server is recorded (`guard_spread`): how much herding there was. A
look that fails (a bad answer, a bad room) is skipped, counted and reported; it never ends the guard.

`bbbscale run` runs it in a thread beside the tick; the simulator calls `check` at its own seconds;
on AWS it is its own Lambda function, started by the capacity check a few minutes before each class
(chalicelib/service/guard_function.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from chalicelib.domain.fleet import ServerState, capacity_of
from chalicelib.domain.guard import GuardServer, decide_guard
from chalicelib.domain.load import Meeting, meeting_units
from chalicelib.domain.rooms import RoomSizes
from chalicelib.ports import BbbscaleError
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.guard_changes import GuardChanges
from chalicelib.service.guard_polls import PollWatch, poller_load
from chalicelib.service.guard_state import (
    note_failure,
    owner_of,
    renew,
)
from chalicelib.service.room_memory import room_sizes, slot_clock

log = logging.getLogger("bbbscale.guard")

MAX_CREATE_MS = 253_402_300_799_999  # 9999-12-31: a createTime past it is no time at all


def burst_guard(ports: FleetPorts) -> BurstGuard | None:
    """The burst guard over these ports (None when switched off in `[guard]`), built once per memory."""
    if not ports.settings.guard.enabled:
        return None
    if not isinstance(ports.memory.guard, BurstGuard):
        ports.memory.guard = BurstGuard(ports)
    return ports.memory.guard


class BurstGuard(GuardChanges):
    """The guard over one set of ports. `check(now)` is one look; `next_check(now)` says when to look again."""

    def __init__(self, ports: FleetPorts):
        self.ports = ports
        self.s = ports.settings.guard
        self.real = ports.settings.weights.model_copy(update={"young_room_participants": 0})
        self.slots = slot_clock(ports)
        self._slot_cache: dict[int, str | None] = {}
        self._forecast: tuple[datetime, float] | None = None
        self._next: datetime | None = None
        self._active_until: datetime | None = None
        self._last_total: tuple[datetime, float] | None = None
        # id -> [load, state, [(units now, expected units, filling until ms)], projected, holds until ms,
        #        read at ms]
        self._read: dict[str, list] = {}
        self._room_costs: dict = {}
        self._states: tuple = ()
        self._held_seen: set = set()
        self._spread_due: datetime | None = None
        self._rising = False
        self._busy = False
        self._last_look: datetime | None = None
        self.looks = 0
        self.changes = 0
        self.failures = 0
        self._foreign: dict[str, str] = {}  # id -> the state someone else gave a server the guard held
        self.polls = PollWatch()  # Scalelite's poll rounds as getServers shows them
        self._figures: dict[str, float] = {}  # id -> the poller's load from the rooms last read
        self._acted: set[str] = set()  # servers whose state the guard changed since the last look
        self._undone: dict[str, str] = {}  # id -> why a round may have undone its cordon
        self._began = ports.clock()

    # --- what a room weighs --------------------------------------------------------------------------
    @property
    def sizes(self) -> RoomSizes:
        """The process's memory of room sizes (the tick learns it; a Lambda run reads the store's)."""
        return room_sizes(self.ports)

    # --- when --------------------------------------------------------------------------------------------
    def in_window(self, now: datetime) -> datetime | None:
        """The end of the class-start window `now` is in, or None."""
        before = timedelta(minutes=self.s.before_slot_minutes)
        after = timedelta(minutes=self.s.after_slot_minutes)
        ends = [s + after for s in self.slots.starts_around(now) if s - before <= now <= s + after]
        return max(ends) if ends else None

    def next_check(self, now: datetime) -> datetime:
        return self._next if self._next is not None else now

    # --- one look ---------------------------------------------------------------------------------------
    def check(self, now: datetime) -> list[dict]:
        """Look once and act; returns the changes made (each with its reason). A look that fails for any
        reason is skipped, counted and reported: it never ends the guard."""
        self.looks += 1
        try:
            return self._look(now)
        except Exception as error:  # noqa: BLE001 - one bad room or answer must not end the guard
            self.failures += 1
            log.exception("guard: a look failed and was skipped")
            self._read.clear()  # read everything afresh at the next look
            self._next = now + timedelta(seconds=self.s.interval_seconds)
            note_failure(self.ports.store, now, error, self.failures)
            return []

    def _look(self, now: datetime) -> list[dict]:
        interval = timedelta(seconds=self.s.interval_seconds)
        self._began = self.ports.clock()
        try:
            servers = self.ports.scalelite.servers()
        except BbbscaleError as error:
            log.warning("guard: getServers failed: %s", error)
            self._next = now + interval
            return []
        total = sum(s.load or 0.0 for s in servers if s.state == "enabled" and s.online)
        window_end = self.in_window(now)
        rising = False
        if self._last_total is not None and now > self._last_total[0]:
            minutes = (now - self._last_total[0]).total_seconds() / 60
            rising = (total - self._last_total[1]) / max(minutes, 0.25) >= self.s.surge_load_per_minute
        self._last_total = (now, total)
        # A surge outside class starts: load rising fast at two looks in a row (one jump alone may be a
        # poll recounting young rooms as 15 users); after a first rise the next look comes soon.
        surge = rising and self._rising and window_end is None
        self._rising = rising
        quiet = interval if rising else timedelta(minutes=1)  # the next look when not in a burst
        if surge:
            window_end = now + timedelta(minutes=self.s.after_slot_minutes)
        if window_end is not None:
            if self._active_until is None or self._active_until <= now:
                self._spread_due = window_end
            self._active_until = max(self._active_until or now, window_end)
        active = self._active_until is not None and self._active_until > now
        store = self.ports.store
        held = store.guard_ledger.cordons()
        if not active and not held:
            self._read.clear()
            self._maybe_spread(now, servers)
            self._next = now + quiet
            return []
        if held and renew(held, now, self.s.cordon_ttl_seconds):  # a live guard keeps its cordons
            store.guard_ledger.keep_cordons(held)
        views = self._views(
            now, servers, lambda: {r.url.rstrip("/"): r for r in store.servers.servers() if r.url}, held
        )
        if views is None:  # nothing moved since the last look
            self._maybe_spread(now, servers)
            self._busy = False
            self._next = now + (self._interval() if active else quiet)
            return []
        incoming = 0.0
        if active:
            incoming = max(0.0, self._expected(now) - sum(v.projected for v in views if v.meant_to_serve))
        if not self.s.act:  # measuring only: the spread after each burst, no change
            self._maybe_spread(now, servers)
            self._next = now + (self._interval() if active else quiet)
            return []
        actions = decide_guard(
            views,
            self.s.threshold,
            self.s.reopen_below,
            incoming,
            self.s.min_enabled,
            self.s.balance_margin,
            self.s.balance_floor,
            self.s.hold_seconds,
            quiet=not active,  # between bursts: only enables and repairs
        )
        done = self._apply(now, actions, held, views)
        self._maybe_spread(now, servers)
        self._next = now + (self._interval() if active else quiet)
        return done

    def _interval(self) -> timedelta:
        """The time to the next look during a burst: shorter while rooms are being created."""
        return timedelta(seconds=self.s.burst_interval_seconds if self._busy else self.s.interval_seconds)

    def _expected(self, now: datetime) -> float:
        """The forecast's units (what the burst is heading to), asked at most once a minute."""
        if self._forecast is None or now - self._forecast[0] >= timedelta(minutes=1):
            self._forecast = (now, self.ports.forecast(now)[0])
        return self._forecast[1]

    def _costs(self, rooms: list[Meeting], tz) -> list[tuple[float, float, float]]:
        """Each room: (units now at real size, units expected once filled, until when it fills (ms)),
        remembered per room record (a look re-reads a server at every join)."""
        fill_ms = self.s.fill_minutes * 60_000
        out = []
        known = self._room_costs
        if len(known) > 50_000:
            known.clear()
        for m in rooms:
            seen = known.get(id(m))  # by identity: the in-process fleet hands out the same record
            cost = seen[1] if seen is not None and seen[0] is m else None  # while its counts are unchanged
            if cost is None:
                if m.is_breakout:
                    continue
                units = meeting_units(m, self.real, 0.0)
                created = m.create_time_ms if 0 < m.create_time_ms <= MAX_CREATE_MS else 0
                until = created + fill_ms if created else 0.0
                expected = units
                if until:
                    slot = self.slots.slot_of_ms(created)
                    expected, _ = self.sizes.expected(m.meeting_id, created, slot)
                cost = (units, expected, until)
                known[id(m)] = (m, cost)
            out.append(cost)
        return out

    @staticmethod
    def _project(costs, now_ms: float) -> tuple[float, float]:
        """(projected units at `now_ms`, until when that figure holds): it changes when a room whose
        expected size is above its current one stops filling."""
        total, holds = 0.0, float("inf")
        for units, expected, until in costs:
            if now_ms < until and expected > units:
                total += expected
                holds = min(holds, until)
            else:
                total += units
        return total, holds

    def _views(self, now: datetime, servers, read_records, held: dict) -> list[GuardServer] | None:
        """Each server with its projection; its rooms re-read where its load or state moved, and every
        `cordoned_read_seconds` where the guard holds it cordoned. None when nothing moved since the
        last look (no new room, no join, no room done filling)."""
        read = self._read
        now_ms = now.timestamp() * 1000
        reread_ms = self.s.cordoned_read_seconds * 1000
        mine = {k for k, v in held.items() if not v.get("released")}
        stale = [
            s
            for s in servers
            if s.online
            and s.state in ("enabled", "cordoned")
            and (
                s.id not in read
                or read[s.id][0] != s.load
                or read[s.id][1] != s.state
                or (s.id in mine and now_ms - read[s.id][5] >= reread_ms)
            )
        ]
        since = (
            self._last_look
            if self._last_look is not None
            else now - timedelta(seconds=self.s.interval_seconds)
        )
        fill_ms = self.s.fill_minutes * 60_000
        recent = since.timestamp() * 1000 + fill_ms  # the `until` of rooms created since
        self._last_look = now
        intake: dict[str, float] = {}  # created since the last look: as much may follow before the next
        for server, rooms in self._meetings(stale).items():
            costs = self._costs(rooms, now.tzinfo)
            read[server.id] = [server.load, server.state, costs, *self._project(costs, now_ms), now_ms]
            intake[server.id] = sum(e for _, e, until in costs if until > recent)
            self._figures[server.id] = poller_load(rooms, server.load_multiplier, now_ms)
        self._undone = self.polls.look(now_ms, servers, self._figures, self._acted)
        self._acted = set()
        self._busy = any(intake.values())  # rooms are being created: look again sooner
        moved = bool(stale)
        for known in read.values():
            if known[4] <= now_ms:
                known[3], known[4] = self._project(known[2], now_ms)
                moved = True
        states = tuple([s.state for s in servers])
        if not moved and states == self._states and held.keys() == self._held_seen and not self._undone:
            return None
        self._states, self._held_seen = states, set(held)
        records = read_records()  # bbbscale's records, read only when something moved
        grace_ms = self.s.undo_grace_seconds * 1000
        loads = [s.load for s in servers if s.online and s.state == "enabled" and s.load is not None]
        lowest = min(loads) if loads else None
        room_units = self.sizes.expected("", int(now_ms), self.slots.slot_of_ms(int(now_ms)))[0]
        self._foreign = {}
        views = []
        for s in servers:
            record = records.get(s.url.rstrip("/"))
            serving = record is not None and record.state == ServerState.SERVING
            entry = read.get(s.id)
            seen = entry if s.state != "disabled" else None
            ours, since_change, sent_ms = False, float("inf"), None
            if s.id in held:
                empty = entry is None or not entry[2] or entry[0] == 0
                by_poller = s.id in self.polls.turned_disabled and self.polls.poll_saving
                owner = owner_of(held[s.id], s.state, empty, by_poller)
                if owner is None:  # someone else changed it since the guard did: no longer the guard's
                    self._foreign[s.id] = s.state
                ours = bool(owner)
                since_change, sent_ms = self._since(held[s.id], now)
            leaked = 0
            if ours and s.state == "cordoned" and seen is not None and sent_ms is not None:
                leaked = sum(1 for _, _, until in seen[2] if until and until - fill_ms > sent_ms + grace_ms)
            views.append(
                GuardServer(
                    s.id,
                    record.name if record else s.url,
                    s.state,
                    s.online,
                    capacity_of(record, self.ports.settings.providers) if record else 0.0,
                    seen[3] if seen else 0.0,
                    len(seen[2]) if seen else 0,
                    bool(ours) and s.state != "enabled",
                    serving,
                    intake.get(s.id, 0.0),
                    s.load is not None,
                    since_change,
                    leaked,
                    self._undone.get(s.id, "") if ours else "",
                    self._draw(s, lowest, room_units) if ours else 0.0,
                )
            )
        return views

    @staticmethod
    def _draw(s, lowest: float | None, room_units: float) -> float:
        """The units a held server would draw at once if enabled: Scalelite puts it back at the load it
        had when cordoned (frozen since), below the others' by the burst's creates and joins; it takes
        every new room until it catches up, each adding ~2 (the create and its teacher's join)."""
        if s.state != "cordoned" or s.load is None or lowest is None or lowest <= s.load:
            return 0.0
        return (lowest - s.load) / (2 * (s.load_multiplier or 1.0)) * room_units

    @staticmethod
    def _since(entry: dict, now: datetime) -> tuple[float, float | None]:
        """(seconds since the guard last changed the server, when its cordon was sent in epoch ms)."""
        try:
            at = datetime.fromisoformat(entry["at"]) if entry.get("at") else None
            released = datetime.fromisoformat(entry["released"]) if entry.get("released") else None
        except (TypeError, ValueError):
            return float("inf"), None
        last = max((t for t in (at, released) if t is not None), default=None)
        since = (now - last).total_seconds() if last is not None else float("inf")
        return since, (at.timestamp() * 1000 if at is not None and released is None else None)

    def _meetings(self, servers) -> dict:
        """Each server's own getMeetings: in parallel over HTTP, one after another in process."""
        if not servers:
            return {}
        if self.ports.parallel_checks:
            snapshot = self.ports.bbb.poll(servers)
            by_id: dict = {s.id: [] for s in servers}
            for m in snapshot.meetings:
                by_id.setdefault(m.server, []).append(m)
            failed = {p.split(":", 1)[0] for p in snapshot.problems}
            return {s: by_id.get(s.id, []) for s in servers if s.id not in failed}
        out = {}
        for s in servers:
            try:
                out[s] = list(self.ports.bbb.server(s.url, s.secret, s.id).meetings().meetings)
            except BbbscaleError:
                continue
        return out

    # --- the long-running forms -----------------------------------------------------------------------
    def run(self, until: datetime, sleep, clock) -> int:
        """Look until `until` (a Lambda run, or forever in `bbbscale run`); returns the changes made."""
        while True:
            now = clock()
            if now >= until:
                return self.changes
            self.check(now)
            wait = (self.next_check(now) - clock()).total_seconds()
            sleep(max(0.5, min(wait, (until - clock()).total_seconds())))
