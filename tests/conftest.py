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
