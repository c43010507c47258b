"""Powertools idempotency over the SQLite layer: one run per payload, failures are not remembered."""

from __future__ import annotations

import warnings

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

from chalicelib.adapters.state.idempotency import SqliteIdempotencyStore, persistence_layer
from chalicelib.config import ProviderSettings, Settings, StateSettings


def counted(layer, config=None):
    """An idempotent function over `layer` that counts how often its body really ran."""
    runs: list[dict] = []

    @idempotent_function(
        data_keyword_argument="closure",
        persistence_store=layer,
        config=config or IdempotencyConfig(expires_after_seconds=600),
    )
    def store_closure(closure: dict) -> dict:
        runs.append(closure)
        if closure.get("explode"):
            raise RuntimeError("boom")
        return {"stored": closure["id"], "run": len(runs)}

    return store_closure, runs


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # "Couldn't determine the remaining time left": no Lambda context here
        yield


@pytest.fixture(params=["file", "memory"])
def layer(request, tmp_path):
    path = str(tmp_path / "s.sqlite3") if request.param == "file" else ":memory:"
    return SqliteIdempotencyStore(path, cluster="demo")


def test_the_same_payload_twice_runs_once(layer):
    store_closure, runs = counted(layer)
    first = store_closure(closure={"id": "c1", "users": 500})
    again = store_closure(closure={"id": "c1", "users": 500})
    assert first == again == {"stored": "c1", "run": 1}
    assert len(runs) == 1
    assert store_closure(closure={"id": "c2", "users": 500}) == {"stored": "c2", "run": 2}


def test_a_failed_run_is_not_remembered(layer):
    store_closure, runs = counted(layer)
    with pytest.raises(RuntimeError):
        store_closure(closure={"id": "c1", "explode": True})
    with pytest.raises(RuntimeError):
        store_closure(closure={"id": "c1", "explode": True})
    assert len(runs) == 2


def test_an_expired_record_runs_again(layer):
    store_closure, runs = counted(layer, IdempotencyConfig(expires_after_seconds=-5))
    store_closure(closure={"id": "c1"})
    store_closure(closure={"id": "c1"})
    assert len(runs) == 2


def test_payload_validation_refuses_the_same_key_with_another_body(layer):
    config = IdempotencyConfig(event_key_jmespath="id", payload_validation_jmespath="users")
    store_closure, runs = counted(layer, config)
    store_closure(closure={"id": "c1", "users": 500})
    with pytest.raises(IdempotencyValidationError):
        store_closure(closure={"id": "c1", "users": 900})
    assert len(runs) == 1


def test_clusters_do_not_share_records(tmp_path):
    path = str(tmp_path / "s.sqlite3")
    first, runs_a = counted(SqliteIdempotencyStore(path, cluster="a"))
    second, runs_b = counted(SqliteIdempotencyStore(path, cluster="b"))
    first(closure={"id": "c1"})
    second(closure={"id": "c1"})
    assert (len(runs_a), len(runs_b)) == (1, 1)


def test_persistence_layer_follows_the_state_backend(tmp_path):
    def settings(**state):
        return Settings(cluster="demo", providers={"owned": ProviderSettings()}, state=StateSettings(**state))

    assert isinstance(persistence_layer(settings(path=str(tmp_path / "s.sqlite3"))), SqliteIdempotencyStore)
    assert isinstance(persistence_layer(settings(backend="memory")), SqliteIdempotencyStore)
