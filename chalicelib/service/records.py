"""Server records as the service changes them: every transition saved (conditional on its version) and
recorded in the history with its reason."""

from __future__ import annotations

from chalicelib.domain.fleet import Server
from chalicelib.ports import ConflictError, HistoryEntry, StateStore


def transition(store: StateStore, server: Server, persist: bool = True) -> Server:
    """Save a record (conditional on its version) and record the transition with its reason."""
    if not persist:
        return server
    saved = store.servers.save(server)
    store.history.record(
        HistoryEntry(
            server.since,
            "transition",
            f"{server.name} -> {server.state.value}: {server.reason}",
            {"server": server.name, "state": server.state.value},
        )
    )
    return saved


def save_quietly(store: StateStore, server: Server) -> Server:
    """Save a record whose change is no transition (a check's result); a lost race keeps the other's."""
    try:
        return store.servers.save(server)
    except ConflictError:
        return server
