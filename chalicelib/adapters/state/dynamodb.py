"""The AWS state store: ONE DynamoDB table for every cluster, every record kind and idempotency.

Key design (pk = partition key, sk = sort key, both strings; `<c>` is the cluster name, which can hold
no `#`, so clusters never collide):

    record        pk                  sk                        other attributes
    server        <c>#server          <server name>             version (N), body (S: record JSON)
    counter       <c>#counter         <provider>                value (N)
    history       <c>#history         <UTC stamp>#<tiebreak>    kind (S), body (S), expiration (N, TTL)
    reservation   <c>#reservation     <reservation id>          body (S)
    setting       <c>#setting         <key>                     value (S: JSON), rev (S: last change's)
    lease         <c>#lease           tick | guard              owner (S), until (S: UTC stamp)
    idempotency   <c>#idempotency     <payload hash>            Powertools' own (expiration is its TTL)

Access patterns: the fleet of a cluster is one Query on `<c>#server` (consistent read); one server is a
GetItem; history by time is a Query on `<c>#history` newest first (stamps are fixed-width, so string
order is time order); reservations and settings are Queries/GetItems on their partitions (the `setting` partition holds
the operator's settings and what the services keep between ticks, chalicelib/state_ports.py: a kept
value that two processes change, such as the guard's report lines, is changed by a PutItem conditional
on the `rev` the change read, retried); each lease
(the tick's, the burst guard's) is one item. Every server save is a conditional PutItem on `version` (insert: attribute_not_exists),
a lease a conditional PutItem (free, expired, or ours) and its release one too (owner and end
emptied: the guard's role needs no DeleteItem), numbers an atomic `ADD`. DynamoDB allows one
TTL attribute per table: `expiration` (epoch seconds) serves history and Powertools idempotency alike.
TTL deletion is lazy (up to days) and only a storage bound; no read depends on it.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.state import kept, records
from chalicelib.adapters.state.dynamodb_cells import DynamoCells
from chalicelib.domain.fleet import Server
from chalicelib.ports import BbbscaleError, ConflictError, HistoryEntry, Reservation, UnreachableError

TTL_ATTRIBUTE = "expiration"


def table_definition() -> dict:
    """The table's CloudFormation `Properties` (all but TableName). infra/cloudformation/state.yaml holds
    the same; a test keeps them equal, and the tests create their table from it."""
    return {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }


def create_table(client, name: str) -> None:
    """Create the table from `table_definition()` through the API (tests, local setups) and wait for it."""
    spec = table_definition()
    client.create_table(
        TableName=name,
        BillingMode=spec["BillingMode"],
        AttributeDefinitions=spec["AttributeDefinitions"],
        KeySchema=spec["KeySchema"],
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(TableName=name, TimeToLiveSpecification=spec["TimeToLiveSpecification"])


def _client(endpoint_url: str | None, region: str | None):
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region, config=config)


class DynamoTable:
    """The table, scoped to one cluster: key building and error translation in one place."""

    def __init__(self, client, name: str, cluster: str):
        self.client, self.name, self.cluster = client, name, cluster

    def key(self, kind: str, sk: str) -> dict:
        return {"pk": {"S": f"{self.cluster}#{kind}"}, "sk": {"S": sk}}

    def call(self, operation: str, conflict: str | None = None, **request):
        """One API call. A failed condition raises ConflictError(conflict) when `conflict` is given (else
        returns None); other faults become one clear BbbscaleError naming the operation (never the data)."""
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        try:
            return getattr(self.client, operation)(TableName=self.name, **request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                if conflict:
                    raise ConflictError(conflict) from None
                return None
            raise BbbscaleError(f"DynamoDB {operation} on {self.name} failed: {code}") from None
        except EndpointConnectionError:
            raise UnreachableError(f"DynamoDB unreachable for {operation} on {self.name}") from None
        except BotoCoreError as error:
            raise BbbscaleError(
                f"DynamoDB {operation} on {self.name} failed: {type(error).__name__}"
            ) from None

    def query(self, kind: str, newest_first: bool = False, limit: int | None = None, **request):
        """Every item of one partition (pages followed), up to `limit` if given."""
        request.update(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={
                ":pk": {"S": f"{self.cluster}#{kind}"},
                **request.get("ExpressionAttributeValues", {}),
            },
            ConsistentRead=True,
            ScanIndexForward=not newest_first,
        )
        items: list[dict] = []
        while True:
            page = self.call("query", **request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoServers:
    """ServerStore: conditional writes on `version`, atomic counters."""

    def __init__(self, table: DynamoTable):
        self._t = table

    def servers(self) -> list[Server]:
        """Every server of the cluster, by name (sk order)."""
        return [records.load(Server, item["body"]["S"]) for item in self._t.query("server")]

    def save(self, server: Server) -> Server:
        """Insert (version 0) or update the stored version; ConflictError when someone wrote first."""
        records.check_server(server)
        body = records.dump(replace(server, version=server.version + 1))
        item = {
            **self._t.key("server", server.name),
            "version": {"N": str(server.version + 1)},
            "body": {"S": body},
        }
        condition: dict[str, Any]
        if server.version == 0:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "#version = :v",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(server.version)}},
            }
        try:
            self._t.call(
                "put_item",
                conflict=f"server {server.name}: stored version changed (had {server.version})",
                Item=item,
                **condition,
            )
        except ConflictError:
            # botocore retries a put whose answer was lost; the retry then fails its own condition. If the
            # stored record is exactly ours, the write happened.
            stored = self._t.call(
                "get_item", Key=self._t.key("server", server.name), ConsistentRead=True
            ).get("Item")
            if not stored or stored["body"]["S"] != body:
                raise
        return records.load(Server, body)

    def forget(self, server: Server) -> bool:
        """Remove the record if it is still at server.version (a conditional delete)."""
        try:
            self._t.call(
                "delete_item",
                conflict=f"server {server.name} changed",
                Key=self._t.key("server", server.name),
                ConditionExpression="#version = :v",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":v": {"N": str(server.version)}},
            )
        except ConflictError:
            return False
        return True

    def next_number(self, provider: str) -> int:
        """1, 2, 3... per provider: DynamoDB's atomic ADD, never reused."""
        answer = self._t.call(
            "update_item",
            Key=self._t.key("counter", provider),
            UpdateExpression="ADD #value :one",
            ExpressionAttributeNames={"#value": "value"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["value"]["N"])


class DynamoHistory:
    """HistoryLog: one partition per cluster sorted by time; each item expires `ttl_days` after its time."""

    _tiebreak = itertools.count()

    def __init__(self, table: DynamoTable, ttl_days: int):
        self._t, self._ttl = table, timedelta(days=ttl_days)

    def record(self, entry: HistoryEntry) -> None:
        """Append one entry. The sort key's tail (clock ns + a process counter) orders same-time entries."""
        body, at = records.dump(entry), records.stamp(entry.at)
        sk = f"{at}#{time.time_ns():020d}{next(self._tiebreak) % 10**6:06d}"
        try:
            expires = int((entry.at + self._ttl).timestamp())
        except (OverflowError, ValueError):
            expires = 0  # far outside any retention window: DynamoDB ignores TTL values this old
        self._t.call(
            "put_item",
            Item={
                **self._t.key("history", sk),
                "kind": {"S": entry.kind},
                "body": {"S": body},
                TTL_ATTRIBUTE: {"N": str(max(expires, 0))},
            },
        )

    def recent(self, limit: int = 20, kind: str | None = None) -> list[HistoryEntry]:
        """The newest `limit` entries, optionally of one kind."""
        if limit <= 0:
            return []
        request: dict = {"Limit": max(limit, 50)}
        if kind:
            request.update(
                FilterExpression="#kind = :kind",
                ExpressionAttributeNames={"#kind": "kind"},
                ExpressionAttributeValues={":kind": {"S": kind}},
            )
        items = self._t.query("history", newest_first=True, limit=limit, **request)
        return [records.load(HistoryEntry, item["body"]["S"]) for item in items]


class DynamoSettings:
    """SettingsStore: the operator's settings only (records.check_setting), one item per key."""

    def __init__(self, cells: DynamoCells):
        self._cells = cells

    def get(self, key: str, default=None):
        """The stored value, or `default` when the key was never put."""
        return self._cells.read(records.check_setting(key), default)

    def put(self, key: str, value) -> None:
        """Store `value` (anything JSON holds) under `key`."""
        self._cells.write(records.check_setting(key), value)


class DynamoReservations:
    """ReservationStore: a conditional put, so an id is stored once and never overwritten."""

    def __init__(self, table: DynamoTable):
        self._t = table

    def reservations(self) -> list[Reservation]:
        """All stored reservations, by start time then id."""
        found = [records.load(Reservation, item["body"]["S"]) for item in self._t.query("reservation")]
        return sorted(found, key=lambda r: (r.starts_at, r.id))

    def add(self, reservation: Reservation) -> tuple[Reservation, bool]:
        """(the stored reservation, True if this call created it)."""
        body = records.dump(reservation)
        key = self._t.key("reservation", reservation.id)
        while True:  # a cancel between the refused put and the read: try the put again
            answer = self._t.call(
                "put_item", Item={**key, "body": {"S": body}}, ConditionExpression="attribute_not_exists(pk)"
            )
            if answer is not None:
                return records.load(Reservation, body), True
            stored = self._t.call("get_item", Key=key, ConsistentRead=True).get("Item")
            if stored is not None:
                return records.load(Reservation, stored["body"]["S"]), False

    def cancel(self, reservation_id: str) -> bool:
        """Remove it; False when there was none."""
        answer = self._t.call(
            "delete_item", Key=self._t.key("reservation", reservation_id), ReturnValues="ALL_OLD"
        )
        return bool(answer.get("Attributes"))


class DynamoLease:
    """Lease: one item per lease `name` ("tick", "guard"), taken by a conditional put (free, expired, or
    already ours) and released by one (emptied, so free to the next: "" sorts before every stamp)."""

    def __init__(self, table: DynamoTable, name: str = "tick"):
        self._t, self.name = table, name

    def acquire(self, owner: str, now: datetime, ttl_seconds: int) -> bool:
        """Take or renew the lease when free, expired, already `owner`'s, or ending past what this clock
        could have given (records.CLOCK_STEP_SECONDS)."""
        until = records.stamp(now + timedelta(seconds=ttl_seconds))
        answer = self._t.call(
            "put_item",
            Item={**self._t.key("lease", self.name), "owner": {"S": owner}, "until": {"S": until}},
            ConditionExpression=(
                "attribute_not_exists(pk) OR #owner = :owner OR #until <= :now OR #until > :far"
            ),
            ExpressionAttributeNames={"#owner": "owner", "#until": "until"},
            ExpressionAttributeValues={
                ":owner": {"S": owner},
                ":now": {"S": records.stamp(now)},
                ":far": {"S": records.lease_far(now, ttl_seconds)},
            },
        )
        return answer is not None

    def holds(self, owner: str, now: datetime) -> bool:
        """True while `owner` holds the lease and it has not run out (a strongly consistent read)."""
        return self.holder(now) == owner

    def holder(self, now: datetime) -> str | None:
        """Who holds the unexpired lease at `now`, if anyone (a strongly consistent read)."""
        key = self._t.key("lease", self.name)
        item = self._t.call("get_item", Key=key, ConsistentRead=True).get("Item") or {}
        owner, until = item.get("owner", {}).get("S", ""), item.get("until", {}).get("S", "")
        return owner if owner and until > records.stamp(now) else None

    def release(self, owner: str) -> None:
        """Free the lease if `owner` holds it; otherwise nothing happens."""
        self._t.call(
            "put_item",
            Item={**self._t.key("lease", self.name), "owner": {"S": ""}, "until": {"S": ""}},
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )


class DynamoStateStore:
    """StateStore in one DynamoDB table (see the key design above). `client` is a boto3 DynamoDB client;
    without one, it is made from `endpoint_url` and `region` (standard retries, short timeouts)."""

    def __init__(
        self,
        table: str,
        client=None,
        endpoint_url: str | None = None,
        region: str | None = None,
        history_ttl_days: int = 30,
        cluster: str = "default",
    ):
        self.table, self.cluster = table, cluster
        self.client = client or _client(endpoint_url, region)
        scoped = DynamoTable(self.client, table, cluster)
        self.servers = DynamoServers(scoped)
        self.history = DynamoHistory(scoped, history_ttl_days)
        cells = DynamoCells(scoped)
        self.settings = DynamoSettings(cells)
        kept.attach(self, cells)
        self.reservations = DynamoReservations(scoped)
        self.lease = DynamoLease(scoped)
        self.guard_lease = DynamoLease(scoped, "guard")
