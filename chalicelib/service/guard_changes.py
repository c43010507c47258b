"""The burst guard's hands: each look's changes made through Scalelite's admin API (updateServer state
only, up to 16 at a time), its record of the servers it holds (its ledger's cordons: who set what, when, and
until when it holds), the history lines with every reason, and the spread after each burst. A mixin of
chalicelib/service/guard.py's BurstGuard, kept apart so the look and the acting read on their own."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from chalicelib.config import GuardSettings, LoadWeights
from chalicelib.domain.fleet import capacity_of
from chalicelib.domain.herding import spread
from chalicelib.domain.load import meeting_units
from chalicelib.ports import BbbscaleError, HistoryEntry
from chalicelib.service.guard_polls import PollWatch
from chalicelib.service.service_ports import GuardPorts

log = logging.getLogger("bbbscale.guard")

RELEASE_WATCH = timedelta(minutes=3)  # an enable is watched this long (a poll round may disable it)


class GuardChanges:
    """What BurstGuard does with a look's decisions (it provides ports, settings, polls, real, _meetings and the
    look's bookkeeping: _began, _acted, _foreign, changes)."""

    ports: GuardPorts
    settings: GuardSettings  # the [guard] section
    real: LoadWeights
    polls: PollWatch
    changes: int
    _began: datetime
    _acted: set[str]
    _foreign: dict[str, str]
    _spread_due: datetime | None

    def _meetings(self, servers) -> dict:
        raise NotImplementedError  # BurstGuard's: each server's own getMeetings

    def _apply(self, now: datetime, actions, held: dict, views) -> list[dict]:
        done = []
        state = {v.id: v for v in views}
        changed = False
        actions = self._still_as_seen(now, actions, state)
        ttl = timedelta(seconds=self.settings.cordon_ttl_seconds)
        for action, error in zip(actions, self._set_states(actions)):
            # when the call went out: the look's time plus what the look took so far (rooms created
            # after it are evidence that a poll undid the cordon)
            sent = (
                now + min(max(self.ports.clock() - self._began, timedelta(0)), timedelta(seconds=30))
            ).isoformat()
            if error is not None:
                self._record(now, f"guard: {action.action} {action.name} failed: {error}", action, "failed")
                if action.action == "recordon" and str(error).startswith("enabled,"):
                    held[action.server_id] = {**held.get(action.server_id, {}), "released": sent}
                    changed = True
                continue
            self._acted.add(action.server_id)
            if action.action in ("cordon", "recordon"):
                self.polls.cordoned(
                    action.server_id,
                    datetime.fromisoformat(sent).timestamp() * 1000,
                    repair=action.action == "recordon",
                )
                until = (now + ttl).isoformat()
                held[action.server_id] = {
                    "name": action.name,
                    "at": sent,
                    "reason": action.reason,
                    "until": until,
                }
            else:  # watched a while: a poll round that read it cordoned and empty may disable it again
                self.polls.released(action.server_id)
                entry = {**held.get(action.server_id, {"name": action.name}), "released": sent}
                entry.pop("until", None)
                held[action.server_id] = entry
            changed = True
            self.changes += 1
            self._record(now, f"guard: {action.action} {action.name}: {action.reason}", action, "done")
            done.append(action.as_json())
        acted = {a.server_id for a in actions}
        settled = (now - RELEASE_WATCH).isoformat()
        for server_id, entry in list(held.items()):
            view = state.get(server_id)
            released = entry.get("released")
            if server_id in self._foreign and server_id not in acted:
                held.pop(server_id)
                changed = True
                name = entry.get("name", server_id)
                self._note(
                    now,
                    f"guard: {name} was made {self._foreign[server_id]} by someone else (an operator or the "
                    "capacity check): no longer the guard's, left as it is",
                    server_id,
                    name,
                )
            elif view is None or not view.meant_to_serve:
                held.pop(server_id)  # gone, or drained by the tick: no longer the guard's
                changed = True
            elif released and server_id not in acted and view.guard_cordoned:
                entry.pop("released")  # the poller disabled it again once empty: the guard's again
                entry["until"] = (now + ttl).isoformat()
                changed = True
            elif released and view.state == "enabled" and released < settled:
                held.pop(server_id)  # enabled for good
                changed = True
        if changed:
            self.ports.store.guard_ledger.keep_cordons(held)
        self.ports.store.guard_ledger.report([f"{a['action']} {a['server']}: {a['reason']}" for a in done])
        return done

    def _still_as_seen(self, now: datetime, actions, seen: dict) -> list:
        """The look's actions whose server Scalelite still reports as the look saw it, read again
        (getServers) just before acting. The look took a while (each server's getMeetings): a disable or
        cordon an operator sent meanwhile would be overwritten by the guard's enable, its repair (enable
        then cordon) or its cordon, and Scalelite's updateServer has no condition on the state it
        replaces (issue 19: the operator's disable must survive). A server changed since is left as it
        is and said in the history; the next look judges whose it is now (guard_state.owner_of). What
        remains is the milliseconds between this read and the call. If the read fails, enables and
        repairs wait for the next look (on doubt, hold); cordons go."""
        if not actions:
            return actions
        try:
            current = {s.id: s.state for s in self.ports.scalelite.servers()}
        except BbbscaleError as error:
            log.warning("guard: getServers failed before acting, enables and repairs wait: %s", error)
            return [a for a in actions if a.action == "cordon"]
        kept = []
        for action in actions:
            view = seen.get(action.server_id)
            now_state = current.get(action.server_id)
            if view is None or now_state is None or now_state == view.state:
                kept.append(action)
                continue
            self._note(
                now,
                f"guard: {action.action} {action.name} not sent: Scalelite reports it {now_state}, the look "
                f"saw it {view.state} (an operator, the capacity check or the poller changed it): left as it is",
                action.server_id,
                action.name,
            )
        return kept

    def _set_states(self, actions) -> list:
        """updateServer for each action (the fullest first; a repair is enable then cordon, the only
        sequence that takes a server whose cordon a poll undid out of Scalelite's placement); over HTTP
        up to 16 at a time, since a burst may need dozens at once. Returns each one's error, or None."""

        def one(action):
            try:
                if action.action == "recordon":
                    self.ports.scalelite.set_state(action.server_id, "enable")
                    try:
                        self.ports.scalelite.set_state(action.server_id, "cordon")
                    except BbbscaleError as error:
                        return BbbscaleError(f"enabled, but the cordon failed: {error}")
                    return None
                self.ports.scalelite.set_state(action.server_id, action.action)
                return None
            except BbbscaleError as error:
                return error

        if len(actions) <= 1 or not self.ports.parallel_checks:
            return [one(a) for a in actions]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(actions)), thread_name_prefix="guard") as pool:
            return list(pool.map(one, actions))

    def _note(self, now: datetime, summary: str, server_id: str, name: str) -> None:
        """A line in the history (kind `guard`) for what the guard saw but did not do."""
        self.ports.store.history.record(
            HistoryEntry(now, "guard", summary, {"server_id": server_id, "server": name}, actor="guard")
        )

    def _record(self, now: datetime, summary: str, action, result: str) -> None:
        self.ports.store.history.record(
            HistoryEntry(now, "guard", summary, {**action.as_json(), "result": result}, actor="guard")
        )

    # --- herding made visible -----------------------------------------------------------------------
    def _maybe_spread(self, now: datetime, servers) -> None:
        if self._spread_due is None or now < self._spread_due:
            return
        self._spread_due = None
        measured = self.measure_spread(now, servers)
        if measured is None:
            return
        document = {"at": now.isoformat(), **measured.as_json()}
        self.ports.store.guard_readings.note_spread(document)
        self.ports.store.history.record(
            HistoryEntry(now, "guard", f"after the burst: {measured.describe()}", document, actor="guard")
        )

    def measure_spread(self, now: datetime, servers=None):
        """Rooms and real load per serving server, now (None when no server carries a room)."""
        servers = servers if servers is not None else self.ports.scalelite.servers()
        records = {r.url.rstrip("/"): r for r in self.ports.store.servers.servers() if r.url}
        serving = [s for s in servers if s.online and s.state in ("enabled", "cordoned")]
        rows = []
        for server, rooms in self._meetings(serving).items():
            record = records.get(server.url.rstrip("/"))
            if record is None:
                continue
            rooms = [m for m in rooms if not m.is_breakout]
            capacity = capacity_of(record, self.ports.settings.providers)
            rows.append((len(rooms), sum(meeting_units(m, self.real, 0.0) for m in rooms), capacity))
        found = spread(rows)
        return found if found.servers else None
