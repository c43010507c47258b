"""moto's server on a free loopback port, with fake AWS credentials in the environment while it runs.

Shared by the contract and integration tests that speak to AWS APIs over real HTTP (never patched).
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager

REGION = "eu-west-3"
_FAKE = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_moto():
    """Yield the endpoint URL of a fresh moto server; the environment is restored afterwards."""
    from moto.server import ThreadedMotoServer

    saved = {key: os.environ.get(key) for key in _FAKE}
    os.environ.update(_FAKE)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
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
