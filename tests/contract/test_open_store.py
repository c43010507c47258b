"""The configuration picks the backend and scopes it to the cluster."""

from __future__ import annotations

from chalicelib.adapters.state import open_store
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.adapters.state.sqlite import SqliteStateStore
from chalicelib.config import ProviderSettings, Settings, StateSettings


def test_open_store_follows_the_configuration(tmp_path):
    def settings(**state):
        return Settings(cluster="demo", providers={"owned": ProviderSettings()}, state=StateSettings(**state))

    sqlite = open_store(settings(path=str(tmp_path / "s.sqlite3")))
    assert isinstance(sqlite, SqliteStateStore) and sqlite.cluster == "demo"
    assert (tmp_path / "s.sqlite3").exists()
    memory = open_store(settings(backend="memory"))
    assert isinstance(memory, MemoryStateStore) and memory.cluster == "demo"
