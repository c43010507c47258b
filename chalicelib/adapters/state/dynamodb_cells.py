"""The kept state's cells on DynamoDB (chalicelib/adapters/state/kept.py `Cells`): one item per key in
the cluster's `setting` partition (value: the JSON text; rev: a token of the last write), the operator's
settings among them. A change that two processes may make at once (the guard appends report lines
while a tick takes them) is a PutItem conditional on the item as read, tried again on a lost race, so
nothing is lost or doubled. An item an older version wrote has no `rev`: the condition is then on its
value. Kept apart from dynamodb.py, which holds the table's design and the other records.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from chalicelib.adapters.state import kept, records
from chalicelib.ports import ConflictError


class DynamoCells:
    """JSON values by key in the `setting` partition (the kept state's and the operator's settings)."""

    #: Changes tried before a ConflictError (each loses only to another writer's success).
    ATTEMPTS = 25

    def __init__(self, table: Any):  # dynamodb.DynamoTable (imported there: no import circle)
        self._t = table

    def _item(self, key: str) -> dict | None:
        return self._t.call("get_item", Key=self._t.key("setting", key), ConsistentRead=True).get("Item")

    def read(self, key: str, default=None):
        """The stored value, or `default` when the key was never written."""
        item = self._item(key)
        return json.loads(item["value"]["S"]) if item else default

    def write(self, key: str, value) -> None:
        """Store `value` (anything JSON holds) under `key`."""
        text = records.to_json(value)
        rev = uuid.uuid4().hex
        self._t.call(
            "put_item", Item={**self._t.key("setting", key), "value": {"S": text}, "rev": {"S": rev}}
        )

    def change(self, key: str, step):
        """Read, step, and a PutItem conditional on the item read (its `rev`; an item an older version
        wrote has none: then its value), again on a lost race (kept.Cells). A put whose answer was lost
        and that botocore retried fails its own condition: the stored `rev` is then ours, and done."""
        for _ in range(self.ATTEMPTS):
            item = self._item(key)
            value, result = step(json.loads(item["value"]["S"]) if item else None)
            if value is kept.KEEP:
                return result
            rev = uuid.uuid4().hex
            names: dict = {}
            values: dict = {}
            if item is None:
                condition = "attribute_not_exists(pk)"
            elif "rev" in item:
                condition, names, values = "#rev = :rev", {"#rev": "rev"}, {":rev": item["rev"]}
            else:
                condition = "attribute_not_exists(#rev) AND #value = :value"
                names, values = {"#rev": "rev", "#value": "value"}, {":value": item["value"]}
            request = {"ExpressionAttributeNames": names} if names else {}
            if values:
                request["ExpressionAttributeValues"] = values
            answer = self._t.call(
                "put_item",
                Item={
                    **self._t.key("setting", key),
                    "value": {"S": records.to_json(value)},
                    "rev": {"S": rev},
                },
                ConditionExpression=condition,
                **request,
            )
            if answer is not None:
                return result
            stored = self._item(key)
            if stored is not None and stored.get("rev", {}).get("S") == rev:
                return result
        raise ConflictError(f"setting {key}: {self.ATTEMPTS} changes lost to other writers")
