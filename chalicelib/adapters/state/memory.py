"""The in-memory state store: for unit tests and throw-away runs. Thread-safe, gone with the process.

It keeps the same JSON text the durable backends keep (chalicelib.adapters.state.records), so a test that
passes here sees exactly what SQLite and DynamoDB would give back.
"""

from __future__ import annotations

import bisect
import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.adapters.state import kept, records
from chalicelib.domain.fleet import Server
from chalicelib.ports import ConflictError, HistoryEntry, Reservation


class _Tables:
    """Everything one cluster has stored, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.servers: dict[str, Server] = {}  # as read back from its JSON, so frozen and shareable
        self.counters: dict[str, int] = {}
        self.history: list[tuple[str, int, str, str]] = []  # (stamp, seq, kind, body)
        self.seq = 0
        self.reservations: dict[str, str] = {}
        self.cells: dict[str, str] = {}  # key -> JSON text: the operator settings and the kept state
        self.leases: dict[str, tuple[str, str]] = {}  # lease name -> (owner, until stamp)


class MemoryServers:
    """ServerStore: optimistic concurrency on `version`, numbers never reused."""

    def __init__(self, tables: _Tables):
        self._t = tables

    def servers(self) -> list[Server]:
        """Every stored server, by name."""
        with self._t.lock:
            return [server for _, server in sorted(self._t.servers.items())]

    def save(self, server: Server) -> Server:
        """Insert (version 0) or update the stored version; ConflictError when someone wrote first."""
        records.check_server(server)
        stored = records.load(Server, records.dump(replace(server, version=server.version + 1)))
        with self._t.lock:
            current = self._t.servers.get(server.name)
            if (current.version if current else 0) != server.version:
                raise ConflictError(f"server {server.name}: stored version changed (had {server.version})")
            self._t.servers[server.name] = stored
        return stored

    def forget(self, server: Server) -> bool:
        """Remove the record if it is still at server.version."""
        with self._t.lock:
            current = self._t.servers.get(server.name)
            if current is None or current.version != server.version:
                return False
            del self._t.servers[server.name]
            return True

    def next_number(self, provider: str) -> int:
        """1, 2, 3... per provider; atomic under the lock."""
        with self._t.lock:
            self._t.counters[provider] = self._t.counters.get(provider, 0) + 1
            return self._t.counters[provider]


class MemoryHistory:
    """HistoryLog: newest first; entries recorded at the same time come back newest-recorded first.
    Kept sorted as recorded (a simulation records thousands); older than `keep_days` before the newest
    entry is pruned, as in SQLite."""

    def __init__(self, tables: _Tables, keep_days: int):
        self._t, self._keep = tables, timedelta(days=keep_days)

    def record(self, entry: HistoryEntry) -> None:
        """Append one entry (and drop what fell out of the retention window, measured from its time)."""
        body, at, horizon = records.history_row(entry, self._keep)
        with self._t.lock:
            self._t.seq += 1
            bisect.insort(self._t.history, (at, self._t.seq, entry.kind, body))
            expired = bisect.bisect_left(self._t.history, (horizon,))
            del self._t.history[:expired]

    def recent(self, limit: int = 20, kind: str | None = None) -> list[HistoryEntry]:
        """The newest `limit` entries, optionally of one kind."""
        picked: list[str] = []
        with self._t.lock:
            for _, _, k, body in reversed(self._t.history):
                if len(picked) >= limit:
                    break
                if kind is None or k == kind:
                    picked.append(body)
        return [records.load(HistoryEntry, body) for body in picked]


class MemoryCells:
    """JSON values by key (the kept state's and the operator's settings), changed under the lock."""

    def __init__(self, tables: _Tables):
        self._t = tables

    def read(self, key: str, default=None):
        """The stored value, or `default` when the key was never written."""
        with self._t.lock:
            text = self._t.cells.get(key)
        return default if text is None else json.loads(text)

    def write(self, key: str, value) -> None:
        """Store `value` (anything JSON holds) under `key`."""
        text = records.to_json(value)
        with self._t.lock:
            self._t.cells[key] = text

    def change(self, key: str, step):
        """Read, step, write under the one lock (kept.Cells)."""
        with self._t.lock:
            text = self._t.cells.get(key)
            value, result = step(None if text is None else json.loads(text))
            if value is not kept.KEEP:
                self._t.cells[key] = records.to_json(value)
        return result


class MemorySettings:
    """SettingsStore: the operator's settings only (records.check_setting), JSON values by key."""

    def __init__(self, cells: MemoryCells):
        self._cells = cells

    def get(self, key: str, default=None):
        """The stored value, or `default` when the key was never put."""
        return self._cells.read(records.check_setting(key), default)

    def put(self, key: str, value) -> None:
        """Store `value` (anything JSON holds) under `key`."""
        self._cells.write(records.check_setting(key), value)


class MemoryReservations:
    """ReservationStore: an id is stored once and never overwritten."""

    def __init__(self, tables: _Tables):
        self._t = tables

    def reservations(self) -> list[Reservation]:
        """All stored reservations, by start time then id."""
        with self._t.lock:
            bodies = list(self._t.reservations.values())
        found = [records.load(Reservation, body) for body in bodies]
        return sorted(found, key=lambda r: (r.starts_at, r.id))

    def add(self, reservation: Reservation) -> tuple[Reservation, bool]:
        """(the stored reservation, True if this call created it)."""
        body = records.dump(reservation)
        with self._t.lock:
            existing = self._t.reservations.setdefault(reservation.id, body)
        return records.load(Reservation, existing), existing is body

    def cancel(self, reservation_id: str) -> bool:
        """Remove it; False when there was none."""
        with self._t.lock:
            return self._t.reservations.pop(reservation_id, None) is not None


class MemoryLease:
    """Lease: one holder at a time, until its time runs out; `name` tells the store's leases apart."""

    def __init__(self, tables: _Tables, name: str = "tick"):
        self._t, self.name = tables, name

    def acquire(self, owner: str, now: datetime, ttl_seconds: int) -> bool:
        """Take or renew the lease when free, expired, already `owner`'s, or ending past what this clock
        could have given (records.CLOCK_STEP_SECONDS)."""
        current, until = records.stamp(now), records.stamp(now + timedelta(seconds=ttl_seconds))
        far = records.lease_far(now, ttl_seconds)
        with self._t.lock:
            held = self._t.leases.get(self.name)
            if held is None or held[0] == owner or held[1] <= current or held[1] > far:
                self._t.leases[self.name] = (owner, until)
                return True
            return False

    def holds(self, owner: str, now: datetime) -> bool:
        """True while `owner` holds the lease and it has not run out."""
        return self.holder(now) == owner

    def holder(self, now: datetime) -> str | None:
        """Who holds the unexpired lease at `now`, if anyone."""
        with self._t.lock:
            held = self._t.leases.get(self.name)
        return held[0] if held is not None and held[1] > records.stamp(now) else None

    def release(self, owner: str) -> None:
        """Free the lease if `owner` holds it; otherwise nothing happens."""
        with self._t.lock:
            held = self._t.leases.get(self.name)
            if held is not None and held[0] == owner:
                del self._t.leases[self.name]


class MemoryStateStore:
    """StateStore kept in process memory. Each instance is its own world (`cluster` is kept for parity
    with the durable backends); `history_ttl_days` bounds the history kept, as in SQLite."""

    def __init__(self, cluster: str = "default", history_ttl_days: int = 30):
        self.cluster = cluster
        tables = _Tables()
        self.servers = MemoryServers(tables)
        self.history = MemoryHistory(tables, history_ttl_days)
        cells = MemoryCells(tables)
        self.settings = MemorySettings(cells)
        kept.attach(self, cells)
        self.reservations = MemoryReservations(tables)
        self.lease = MemoryLease(tables)
        self.guard_lease = MemoryLease(tables, "guard")
