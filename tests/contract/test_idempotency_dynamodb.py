"""Powertools' DynamoDB idempotency layer, as persistence_layer() sets it up, on the one bbbscale table."""

from __future__ import annotations

import warnings

import boto3
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

from chalicelib.adapters.state.dynamodb import DynamoStateStore
from chalicelib.adapters.state.idempotency import persistence_layer
from chalicelib.config import ProviderSettings, Settings, StateSettings
from tests.contract.motoserver import REGION


def test_the_same_payload_twice_runs_once_on_dynamodb(moto_endpoint, dynamo_table):
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    settings = Settings(
        cluster="idem",
        providers={"owned": ProviderSettings()},
        state=StateSettings(backend="dynamodb", table=dynamo_table),
    )
    runs = []

    @idempotent_function(
        data_keyword_argument="closure",
        persistence_store=persistence_layer(settings, client=client),
        config=IdempotencyConfig(expires_after_seconds=600),
    )
    def store_closure(closure: dict) -> dict:
        runs.append(closure)
        return {"stored": closure["id"]}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert store_closure(closure={"id": "c1"}) == store_closure(closure={"id": "c1"}) == {"stored": "c1"}
    assert len(runs) == 1
    # the record sits in the cluster's own partition, and leaves the cluster's state records alone
    items = client.query(
        TableName=dynamo_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "idem#idempotency"}},
    )["Items"]
    assert len(items) == 1 and "expiration" in items[0]
    assert DynamoStateStore(dynamo_table, client=client, cluster="idem").servers.servers() == []
