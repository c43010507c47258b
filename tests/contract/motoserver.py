"""moto's server on a free loopback port, with fake AWS credentials in the environment while it runs.

Shared by the contract and integration tests that speak to AWS APIs over real HTTP (never patched).
"""

from __future__ import annotations

import os
import socket
import threading
from contextlib import contextmanager

from moto.moto_server.threaded_moto_server import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

REGION = "eu-west-3"
_FAKE = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AtomicMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose requests are handled one at a time.

    moto's DynamoDB checks a ConditionExpression and then writes without a lock, so two concurrent
    conditional puts can both succeed (seen as a rare flake of the lease race). Real DynamoDB applies a
    conditional write atomically per item; serialising the fake's requests restores that guarantee while
    the connections stay concurrent (the server is still threaded)."""

    def _server_entry(self) -> None:
        app, lock = DomainDispatcherApplication(create_backend_app), threading.Lock()

        def one_at_a_time(environ, start_response):
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, one_at_a_time, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@contextmanager
def running_moto():
    """Yield the endpoint URL of a fresh moto server; the environment is restored afterwards."""
    saved = {key: os.environ.get(key) for key in _FAKE}
    os.environ.update(_FAKE)
    port = _free_port()
    server = AtomicMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
