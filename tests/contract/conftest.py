"""Fixtures of the contract suites: every state-store backend behind the same `open_handle()` factory, and
the moto server the DynamoDB store and the EC2 provider talk to (the other ports' implementations are
opened by tests/contract/clouds.py and scalelites.py).

`open_handle()` returns a new handle on the same stored state (a second SqliteStateStore on the same file,
a second DynamoStateStore on the same table), the way two tick processes see it. DynamoDB runs on moto's
server over loopback HTTP, with fake credentials from the environment.
"""

from __future__ import annotations

import itertools

import pytest

from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.adapters.state.sqlite import SqliteStateStore
from tests.contract.motoserver import REGION, running_moto

BACKENDS = ["memory", "sqlite", "dynamodb"]
_clusters = itertools.count(1)


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on a free loopback port, with fake AWS credentials in the environment."""
    with running_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def dynamo_table(moto_endpoint):
    """The bbbscale table, created from the same definition the CloudFormation template holds."""
    import boto3

    from chalicelib.adapters.state.dynamodb import create_table

    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    create_table(client, "bbbscale-contract")
    return "bbbscale-contract"


@pytest.fixture(params=BACKENDS)
def open_handle(request, tmp_path):
    """A factory of handles on one fresh, shared state (its own cluster, so tests never see each other);
    `open_handle("name")` opens another cluster on the same file/table."""
    cluster = f"c{next(_clusters)}"
    if request.param == "memory":
        shared = MemoryStateStore(cluster=cluster)
        yield lambda other=None: MemoryStateStore(cluster=other) if other else shared
    elif request.param == "sqlite":
        path = str(tmp_path / "state.sqlite3")
        opened: list[SqliteStateStore] = []

        def handle(other=None):
            opened.append(SqliteStateStore(path, cluster=other or cluster))
            return opened[-1]

        yield handle
        for store in opened:
            store.close()
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        table = request.getfixturevalue("dynamo_table")
        from chalicelib.adapters.state.dynamodb import DynamoStateStore

        yield lambda other=None: DynamoStateStore(
            table, endpoint_url=endpoint, region=REGION, cluster=other or cluster
        )


@pytest.fixture
def store(open_handle):
    """One handle on a fresh state."""
    return open_handle()
