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
from chalicelib.domain.guard import decide_guard
from chalicelib.domain.guard_model import GuardServer
from chalicelib.domain.load import at_real_size
from chalicelib.domain.rooms import RoomSizes
from chalicelib.ports import BbbscaleError
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.guard_changes import GuardChanges
from chalicelib.service.guard_polls import PollWatch
from chalicelib.service.guard_reads import ServerReads, Timed, draw, meetings_of, since_change
from chalicelib.service.guard_state import (
    note_failure,
    owner_of,
    renew,
)
from chalicelib.service.room_memory import GuardMemory, room_sizes, slot_clock
from chalicelib.service.service_ports import GuardPorts

log = logging.getLogger("bbbscale.guard")

START_BEFORE = timedelta(minutes=1)  # a class's first moments: from a minute before its start ...
START_AFTER = timedelta(minutes=2)  # ... to two minutes after (faster looks, every server's rooms read)
MIN_PAUSE_S = 0.05  # between two looks at least (a look longer than its interval: the next one at once)


def burst_guard(ports: FleetPorts, memory: GuardMemory) -> BurstGuard | None:
    """The burst guard over these ports (None when switched off in `[guard]`), built once per memory
    (the process's, which the Wiring or the run loop owns: the frozen ports hold no guard). The guard
    gets only the ports it reads (`GuardPorts`)."""
    if not ports.settings.guard.enabled:
        return None
    if not isinstance(memory.guard, BurstGuard):
        memory.guard = BurstGuard(GuardPorts.of(ports), memory)
    return memory.guard


class BurstGuard(GuardChanges):
    """The guard over one set of ports. `check(now)` is one look; `next_check(now)` says when to look again."""

    def __init__(self, ports: GuardPorts, memory: GuardMemory):
        self.ports, self.memory = ports, memory
        self.settings = ports.settings.guard  # the [guard] section
        self.real = at_real_size(ports.settings.weights)
        self.slots = slot_clock(memory, ports.settings)
        self._forecast: Timed | None = None  # the forecast's units, asked at most once a minute
        self._next: datetime | None = None
        self._active_until: datetime | None = None
        self._last_total: Timed | None = None  # the enabled servers' load at the last look
        self.reads = ServerReads(ports, self.settings, self.real, self._expected_room)
        self._states: tuple[str, ...] = ()
        self._held_seen: set = set()
        self._spread_due: datetime | None = None
        self._rising = False
        self._busy = False
        self._near = False  # the last look was in a class's first moments (`near_start`)
        self.looks = 0
        self.changes = 0
        self.failures = 0
        self._foreign: dict[str, str] = {}  # id -> the state someone else gave a server the guard held
        self.polls = PollWatch()  # Scalelite's poll rounds as getServers shows them
        self._acted: set[str] = set()  # servers whose state the guard changed since the last look
        self._undone: dict[str, str] = {}  # id -> why a round may have undone its cordon
        self._began = ports.clock()

    # --- what a room weighs --------------------------------------------------------------------------
    @property
    def sizes(self) -> RoomSizes:
        """The process's memory of room sizes (the tick learns it; a Lambda run reads the store's)."""
        return room_sizes(self.memory, self.ports.store, self.ports.settings)

    # --- when --------------------------------------------------------------------------------------------
    def in_window(self, now: datetime) -> datetime | None:
        """The end of the class-start window `now` is in, or None."""
        before = timedelta(minutes=self.settings.before_slot_minutes)
        after = timedelta(minutes=self.settings.after_slot_minutes)
        ends = [s + after for s in self.slots.starts_around(now) if s - before <= now <= s + after]
        return max(ends) if ends else None

    def near_start(self, now: datetime) -> bool:
        """`now` is in a class's first moments: from `START_BEFORE` before its start to `START_AFTER`
        after, when the last lesson's rooms end and the new ones are created."""
        return any(s - START_BEFORE <= now <= s + START_AFTER for s in self.slots.starts_around(now))

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
            self.reads.clear()  # read everything afresh at the next look
            self._next = now + timedelta(seconds=self.settings.interval_seconds)
            note_failure(self.ports.store, now, error, self.failures)
            return []

    def _look(self, now: datetime) -> list[dict]:
        interval = timedelta(seconds=self.settings.interval_seconds)
        self._began = self.ports.clock()
        try:
            servers = self.ports.scalelite.servers()
        except BbbscaleError as error:
            log.warning("guard: getServers failed: %s", error)
            self._next = now + interval
            return []
        total = sum(s.load or 0.0 for s in servers if s.state == "enabled" and s.online)
        window_end = self.in_window(now)
        self._near = window_end is not None and self.near_start(now)
        rising = False
        last = self._last_total
        if last is not None and now > last.at:
            minutes = (now - last.at).total_seconds() / 60
            rising = (total - last.value) / max(minutes, 0.25) >= self.settings.surge_load_per_minute
        self._last_total = Timed(now, total)
        # A surge outside class starts: load rising fast at two looks in a row (one jump alone may be a
        # poll recounting young rooms as 15 users); after a first rise the next look comes soon.
        surge = rising and self._rising and window_end is None
        self._rising = rising
        quiet = interval if rising else timedelta(minutes=1)  # the next look when not in a burst
        if surge:
            window_end = now + timedelta(minutes=self.settings.after_slot_minutes)
        if window_end is not None:
            if self._active_until is None or self._active_until <= now:
                self._spread_due = window_end
            self._active_until = max(self._active_until or now, window_end)
        active = self._active_until is not None and self._active_until > now
        store = self.ports.store
        held = store.guard_ledger.cordons()
        if not active and not held:
            self.reads.clear()
            self._maybe_spread(now, servers)
            self._next = now + quiet
            return []
        if held and renew(held, now, self.settings.cordon_ttl_seconds):  # a live guard keeps its cordons
            store.guard_ledger.keep_cordons(held)
        views = self._views(
            now,
            servers,
            lambda: {r.url.rstrip("/"): r for r in store.servers.servers() if r.url},
            held,
            window=self._near,
        )
        if views is None:  # nothing moved since the last look
            self._maybe_spread(now, servers)
            self._busy = False
            self._next = now + (self._interval() if active else quiet)
            return []
        incoming = 0.0
        if active:
            incoming = max(0.0, self._expected(now) - sum(v.projected for v in views if v.meant_to_serve))
        if not self.settings.act:  # measuring only: the spread after each burst, no change
            self._maybe_spread(now, servers)
            self._next = now + (self._interval() if active else quiet)
            return []
        rules = self.settings
        actions = decide_guard(
            views,
            threshold=rules.threshold,
            reopen_below=rules.reopen_below,
            incoming_units=incoming,
            min_enabled=rules.min_enabled,
            margin=rules.balance_margin,
            floor=rules.balance_floor,
            hold_seconds=rules.hold_seconds,
            quiet=not active,  # between bursts: only enables and repairs
            keep_share=rules.balance_keep_share,
        )
        done = self._apply(now, actions, held, views)
        self._maybe_spread(now, servers)
        self._next = now + (self._interval() if active else quiet)
        return done

    def _interval(self) -> timedelta:
        """The time to the next look during a burst: shorter while rooms are being created."""
        rules = self.settings
        if self._busy:
            return timedelta(seconds=rules.burst_interval_seconds)
        return timedelta(seconds=rules.start_interval_seconds if self._near else rules.interval_seconds)

    def _expected(self, now: datetime) -> float:
        """The forecast's units (what the burst is heading to), asked at most once a minute."""
        if self._forecast is None or now - self._forecast.at >= timedelta(minutes=1):
            self._forecast = Timed(now, self.ports.forecast(now)[0])
        return self._forecast.value

    def _expected_room(self, meeting_id: str, created_ms: int) -> float:
        """What the memory of room sizes expects of a room created at `created_ms`, once filled."""
        return self.sizes.expected(meeting_id, created_ms, self.slots.slot_of_ms(created_ms))[0]

    def _views(
        self, now: datetime, servers, read_records, held: dict, window: bool = False
    ) -> list[GuardServer] | None:
        """Each server with its projection; its rooms re-read where its load or state moved, and every
        `cordoned_read_seconds` where the guard holds it cordoned. None when nothing moved since the
        last look (no new room, no join, no room done filling)."""
        now_ms = now.timestamp() * 1000
        mine = {k for k, v in held.items() if not v.get("released")}
        stale = self.reads.stale(servers, mine, now_ms, window)
        intake = self.reads.reread(now, stale)
        self._undone = self.polls.look(
            now_ms,
            servers,
            self.reads.figures,
            self._acted,
            self.reads.unexplained,
            self.polls.round_ms(len(servers), self.reads.read_seconds),
        )
        self._acted = set()
        self._busy = any(intake.values())  # rooms are being created: look again sooner
        moved = self.reads.reproject(now_ms) or bool(stale)
        states = tuple([s.state for s in servers])
        if not moved and states == self._states and held.keys() == self._held_seen and not self._undone:
            return None
        self._states, self._held_seen = states, set(held)
        records = read_records()  # bbbscale's records, read only when something moved
        grace_ms = self.settings.undo_grace_seconds * 1000
        loads = [s.load for s in servers if s.online and s.state == "enabled" and s.load is not None]
        lowest = min(loads) if loads else None
        room_units = self.sizes.expected("", int(now_ms), self.slots.slot_of_ms(int(now_ms)))[0]
        self._foreign = {}
        views = []
        for s in servers:
            record = records.get(s.url.rstrip("/"))
            serving = record is not None and record.state == ServerState.SERVING
            entry = self.reads.by_id.get(s.id)
            seen = entry if s.state != "disabled" else None
            ours, changed_ago, sent_ms, cordoned_ago = False, float("inf"), None, float("inf")
            if s.id in held:
                empty = entry is None or not entry.rooms or entry.load == 0
                by_poller = s.id in self.polls.turned_disabled and self.polls.poll_saving
                owner = owner_of(held[s.id], s.state, empty, by_poller)
                if owner is None:  # someone else changed it since the guard did: no longer the guard's
                    self._foreign[s.id] = s.state
                ours = bool(owner)
                changed_ago, sent_ms, cordoned_ago = since_change(held[s.id], now)
                if owner is None:
                    cordoned_ago = float("inf")
            leaked = 0
            if ours and s.state == "cordoned" and seen is not None and sent_ms is not None:
                leaked = sum(1 for c in seen.rooms if c.created_ms and c.created_ms > sent_ms + grace_ms)
            views.append(
                GuardServer(
                    id=s.id,
                    name=record.name if record else s.url,
                    state=s.state,
                    online=s.online,
                    capacity=capacity_of(record, self.ports.settings.providers) if record else 0.0,
                    projected=seen.projected if seen else 0.0,
                    rooms=len(seen.rooms) if seen else 0,
                    guard_cordoned=bool(ours) and s.state != "enabled",
                    meant_to_serve=serving,
                    intake=intake.get(s.id, 0.0),
                    has_load=s.load is not None,
                    since_change=changed_ago,
                    leaked_rooms=leaked,
                    undone=self._undone.get(s.id, "") if ours else "",
                    draw=draw(s, lowest, room_units) if ours else 0.0,
                    cordon_age=cordoned_ago,
                )
            )
        return views

    def _meetings(self, servers) -> dict:
        return meetings_of(self.ports, servers)

    # --- the long-running forms -----------------------------------------------------------------------
    def run(self, until: datetime, sleep, clock) -> int:
        """Look until `until` (a Lambda run, or forever in `bbbscale run`); returns the changes made."""
        while True:
            now = clock()
            if now >= until:
                return self.changes
            self.check(now)
            wait = (self.next_check(now) - clock()).total_seconds()
            sleep(max(MIN_PAUSE_S, min(wait, (until - clock()).total_seconds())))
