"""Idempotency records for Powertools' `idempotent` / `idempotent_function`, where the state lives.

On AWS the records go to the one bbbscale table through Powertools' own DynamoDBPersistenceLayer (its
partition `<cluster>#idempotency`, the payload hash as sort key, `expiration` as TTL — the same TTL
attribute history uses). Locally they go to the SQLite file through `SqliteIdempotencyStore`, which keeps
Powertools' rules: a record may be (re)written only when absent, expired, or an in-progress record whose
Lambda ran out of time; otherwise the call is a repeat (IdempotencyItemAlreadyExistsError).
Powertools compares expiries with the wall clock (DataRecord.is_expired uses datetime.now()); so does this.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord

from chalicelib.adapters.state.sqlite_file import open_wal

SCHEMA = """CREATE TABLE IF NOT EXISTS idempotency (cluster TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL,
    expiration INTEGER, in_progress_expiration INTEGER, data TEXT NOT NULL DEFAULT '', validation TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (cluster, key))"""


class SqliteIdempotencyStore(BasePersistenceLayer):
    """Powertools persistence layer in a SQLite file (":memory:" for a throw-away one), per cluster."""

    def __init__(self, path: str, cluster: str = "default"):
        super().__init__()
        self._cluster = cluster
        self._lock = threading.Lock()
        self._connection = open_wal(path, 30.0)
        self._connection.execute(SCHEMA)

    def _row(self, cursor, key: str):
        return cursor.execute(
            "SELECT key, status, expiration, in_progress_expiration, data, validation FROM idempotency "
            "WHERE cluster = ? AND key = ?",
            (self._cluster, key),
        ).fetchone()

    @staticmethod
    def _record(row) -> DataRecord:
        key, status, expiration, in_progress, data, validation = row
        return DataRecord(
            idempotency_key=key,
            status=status,
            expiry_timestamp=expiration,
            in_progress_expiry_timestamp=in_progress,
            response_data=data,
            payload_hash=validation,
        )

    def _get_record(self, idempotency_key) -> DataRecord:
        with self._lock:
            row = self._row(self._connection.cursor(), idempotency_key)
        if row is None:
            raise IdempotencyItemNotFoundError
        return self._record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = dt.datetime.now()
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")  # the check and the write under SQLite's write lock
            try:
                row = self._row(cursor, data_record.idempotency_key)
                if row is not None and not self._replaceable(row, now):
                    cursor.execute("ROLLBACK")
                    old = self._record(row)
                    self._validate_payload(data_payload=data_record, stored_data_record=old)
                    raise IdempotencyItemAlreadyExistsError(old_data_record=old)
                cursor.execute(
                    "INSERT OR REPLACE INTO idempotency (cluster, key, status, expiration, in_progress_expiration, "
                    "validation) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        self._cluster,
                        data_record.idempotency_key,
                        data_record.status,
                        data_record.expiry_timestamp,
                        data_record.in_progress_expiry_timestamp,
                        data_record.payload_hash if self.payload_validation_enabled else "",
                    ),
                )
                cursor.execute("COMMIT")
            except sqlite3.Error:
                cursor.execute("ROLLBACK")
                raise

    @staticmethod
    def _replaceable(row, now: dt.datetime) -> bool:
        """Powertools' rule: absent, expired, or in progress past the Lambda's remaining time."""
        _, status, expiration, in_progress, _, _ = row
        if expiration is not None and expiration < int(now.timestamp()):
            return True
        return (
            status == STATUS_CONSTANTS["INPROGRESS"]
            and in_progress is not None
            and in_progress < int(now.timestamp() * 1000)
        )

    def _update_record(self, data_record: DataRecord) -> None:
        with self._lock:
            self._connection.execute(
                "UPDATE idempotency SET status = ?, expiration = ?, data = ? WHERE cluster = ? AND key = ?",
                (
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.response_data,
                    self._cluster,
                    data_record.idempotency_key,
                ),
            )

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._lock:
            self._connection.execute(
                "DELETE FROM idempotency WHERE cluster = ? AND key = ?",
                (self._cluster, data_record.idempotency_key),
            )


def persistence_layer(settings, client=None) -> BasePersistenceLayer:
    """Where idempotency records go for this configuration: the DynamoDB table with the `dynamodb` state
    backend, else the SQLite state file (":memory:" with the memory backend). `client`: a boto3 DynamoDB
    client (tests point one at moto)."""
    state = settings.state
    if state.backend == "dynamodb":
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        # One table for everything: the layer's composite-key mode (static pk + hash as sk).
        return DynamoDBPersistenceLayer(
            table_name=state.table,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=f"{settings.cluster}#idempotency",
            expiry_attr="expiration",
            boto3_client=client,
        )
    path = state.path if state.backend == "sqlite" else ":memory:"
    return SqliteIdempotencyStore(path, cluster=settings.cluster)
