"""Hand-written fakes of our own ports for the chat and webhook tests, and a loopback HTTP receiver
standing in for Slack's response_url and the incoming webhooks (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import queue
import threading
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.config import ChatSettings, ProviderSettings, Settings, StateSettings
from chalicelib.domain.fleet import Server, ServerState
from chalicelib.domain.overrides import DRAIN, FLOORS, FREEZE
from chalicelib.domain.tick_report import TickReport
from chalicelib.ports import HistoryEntry, Reservation
from tests.support.reports import acted, load, tick_report

OPERATOR = "UOPS1"  # a Slack user id named in chat.operators
RC_OPERATOR = "rcops"  # a Rocket.Chat user id, named as "rocketchat:rcops"


def chat_settings(**chat) -> Settings:
    """A two-provider configuration with one operator per platform (no adapter kinds resolved)."""
    return Settings(
        providers={
            "owned": ProviderSettings(kind="static", mode="static", min_servers=2, max_servers=4, quota=4),
            "gandi": ProviderSettings(hourly_cost=0.5, max_servers=40, quota=30),
        },
        chat=ChatSettings(operators=[OPERATOR, f"rocketchat:{RC_OPERATOR}"], **chat),
        state=StateSettings(backend="memory"),  # nothing written to the working directory
    )


_UNSET = object()
COMMAND_SETTINGS = (FREEZE, FLOORS, DRAIN)  # what chat commands may write


def store_with(*servers: Server) -> MemoryStateStore:
    """The memory state store (the real one tests and demos run on), holding `servers`."""
    store = MemoryStateStore(cluster="demo")
    for server in servers:
        store.servers.save(server)
    return store


def entries(store) -> list[HistoryEntry]:
    """Every history entry, oldest first."""
    return list(reversed(store.history.recent(limit=100_000)))


def reserved(store) -> dict[str, Reservation]:
    return {r.id: r for r in store.reservations.reservations()}


def written_settings(store) -> dict:
    """The operator settings chat commands write, as stored (a key put to None included)."""
    found = {key: store.settings.get(key, _UNSET) for key in COMMAND_SETTINGS}
    return {key: value for key, value in found.items() if value is not _UNSET}


def snapshot(store) -> tuple:
    """Everything a refused request must leave untouched."""
    return (reserved(store), entries(store), written_settings(store))


def serving(name: str, provider: str = "gandi", state: ServerState = ServerState.SERVING) -> Server:
    return Server(
        name=name,
        provider=provider,
        state=state,
        since=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
        capacity=300.0,
    )


TICK = tick_report(
    acted("start", "gandi", "load 431.5 above capacity", count=4),
    load=load(240, 12, 431.5),
    desired={"owned": 4, "gandi": 6},
    fleet={"owned": {"serving": 4}, "gandi": {"serving": 2}},
)


class FakeRuntime:
    """The settings and the (real, in-memory) store commands run on; `tick` records that it was asked and
    answers `tick_result` (or raises `tick_error`). `status` and `plan` are the service's own, read from
    the store and the settings."""

    def __init__(self, settings: Settings | None = None, store: MemoryStateStore | None = None):
        self.settings = settings or chat_settings()
        self.store = store or store_with()
        self.ticks: list[bool] = []
        self.ticked = threading.Event()
        self.tick_result = TICK
        self.tick_error: Exception | None = None

    @property
    def idempotency(self):
        """Where repeats are remembered: the real layer for these settings (SQLite or memory)."""
        from chalicelib.adapters.state.idempotency import persistence_layer

        return persistence_layer(self.settings)

    def secret(self, name: str) -> str | None:
        """Like the real runtime's lookup, the environment first (no SSM here)."""
        return os.environ.get(name)

    def tick(self, dry_run: bool = False, now: datetime | None = None) -> TickReport:
        self.ticks.append(dry_run)
        self.ticked.set()
        if self.tick_error:
            raise self.tick_error
        return replace(self.tick_result, dry_run=dry_run)


class Receiver:
    """A loopback HTTP server recording each POST's path and JSON body; answers `status`."""

    def __init__(self, status: int = 200):
        self.posts: queue.Queue = queue.Queue()
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.posts.put((self.path, self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def next(self, timeout: float = 5.0) -> tuple[str, str, dict]:
        return self.posts.get(timeout=timeout)

    def none_within(self, seconds: float) -> bool:
        try:
            self.posts.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def point_runtime_at(monkeypatch, runtime) -> None:
    """Make app.py's handlers use `runtime`, through the hook chalicelib.fleets offers."""
    import chalicelib.fleets as fleets

    monkeypatch.setattr(fleets, "WIRING_FACTORY", lambda: runtime)


def run_job(runtime, job):
    """Carry out `job` as app.py does: an acting tick of `runtime`, answered on the channels the
    environment names."""
    from chalicelib.adapters.chat.notify import chats_from_environment
    from chalicelib.service import notify

    chats = chats_from_environment(runtime.settings.chat)
    return notify.run_job(
        job, lambda: runtime.tick(dry_run=False), runtime.store.reservations, chats, runtime.settings.timezone
    )


def serve_in_threads(monkeypatch, runtime) -> None:
    """Point app.py at `runtime` and run its follow-up jobs on threads (the embedded dispatcher)."""
    import app as app_module
    from chalicelib.adapters.chat.dispatch import ThreadDispatcher

    point_runtime_at(monkeypatch, runtime)
    runtime.dispatcher = ThreadDispatcher(lambda job: run_job(runtime, job))
    monkeypatch.setattr(app_module, "DISPATCHER", runtime.dispatcher)


class RecordingChat:
    """The Chat port's fake (chalicelib/ports.py): records what it posted, `posted` as ("announce",
    notice) and ("answer", reply, text). Without a channel (`configured=False`) it announces nothing;
    `fail` makes its posts raise as an unreachable endpoint would. Held to the same contract as the
    Slack and Rocket.Chat adapters (tests/contract/test_chat.py)."""

    def __init__(self, platform: str = "slack", configured: bool = True):
        self.platform, self.configured = platform, configured
        self.posted: list[tuple] = []
        self.fail: Exception | None = None

    def _post(self, *what) -> bool:
        if self.fail is not None:
            raise self.fail
        self.posted.append(what)
        return True

    def announce(self, notice) -> bool:
        return self.configured and self._post("announce", notice)

    def answer(self, reply: dict, text: str) -> bool:
        return reply.get("platform") == self.platform and self._post("answer", reply, text)
