"""The DynamoDB key design as documented in chalicelib/adapters/state/dynamodb.py, read back raw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from chalicelib.adapters.state.dynamodb import DynamoStateStore
from chalicelib.domain.fleet import Server, ServerState
from chalicelib.ports import HistoryEntry
from tests.contract.motoserver import REGION

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def partition(client, table, pk):
    return client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]


def test_items_sit_in_cluster_partitions_and_history_carries_its_ttl(moto_endpoint, dynamo_table):
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    store = DynamoStateStore(dynamo_table, client=client, cluster="layout", history_ttl_days=30)
    store.servers.save(Server("bbbscale-layout-gandi-1", "gandi", ServerState.REQUESTED, T0, 300.0))
    store.history.record(HistoryEntry(at=T0, kind="tick", summary="one"))
    (server,) = partition(client, dynamo_table, "layout#server")
    assert server["sk"] == {"S": "bbbscale-layout-gandi-1"} and server["version"] == {"N": "1"}
    (entry,) = partition(client, dynamo_table, "layout#history")
    assert entry["sk"]["S"].startswith("2026-11-23T08:00:00.000000+00:00#")
    assert int(entry["expiration"]["N"]) == int((T0 + timedelta(days=30)).timestamp())
    ttl = client.describe_time_to_live(TableName=dynamo_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration" and ttl["TimeToLiveStatus"] == "ENABLED"
