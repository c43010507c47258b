"""Fixtures shared by every test folder."""

import pytest
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="module")
def moto_url():
    """moto's server on a free loopback port (EC2, SQS, ...): boto3 talks real HTTP to it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory, monkeypatch):
    """Each test its own user state directory: `tick` and `run` with the built-in configuration keep
    their SQLite state in $XDG_STATE_HOME/bbbscale/ (chalicelib/cli.py), never in the real HOME, and
    two tests never share a simulated fleet."""
    path = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path
