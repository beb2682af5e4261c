"""Sample records in DynamoDB: one item per sample, moved through its states by
conditional writes so concurrent or repeated deliveries cannot corrupt it.

States: QUEUED → PROCESSING → COMPLETED | FAILED. PROCESSING may be entered again (a
redelivered message after a crash); a COMPLETED or FAILED record never goes back to
PROCESSING, and only a PROCESSING record can become COMPLETED. A job whose sample has no
record yet (a producer that only sent a message) creates it as it starts, in the same
conditional write. ``dispatched_at`` / ``dispatched_via`` say the job was handed over (to
the queue, or to a one-off task); the reconciler (``producer.reconcile``) reads them, and
writes only if a record is still as it read it.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from audio_tasks import aws
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import Status


class RecordExists(Exception):
    """A record with this sample_id already exists; ``record`` is that record, as the failed write found it."""

    def __init__(self, sample_id: str, record: dict | None = None):
        super().__init__(sample_id)
        self.record = record


class RecordNotFound(Exception):
    """No record with this sample_id exists."""


class BatchIncomplete(Exception):
    """DynamoDB kept leaving part of a batch unprocessed (throttling)."""


BATCH_GET_MAX, BATCH_WRITE_MAX = 100, 25  # DynamoDB's limits per BatchGetItem and BatchWriteItem
_BATCH_ATTEMPTS = 6  # unprocessed keys or items: retried after 0.05 s, 0.1 s, ... 1.6 s


class SampleRecords:
    """Reads and state transitions of sample records in the ``SAMPLES_TABLE`` table."""

    def __init__(self, settings: Settings, dynamodb=None):
        self._table = settings.samples_table
        self._db = dynamodb or aws.client("dynamodb", settings)

    def create(self, sample_id: str, input_uri: str) -> dict:
        """Create the record QUEUED; raises RecordExists (with the existing record) if the id is taken."""
        now = _now()
        item = {"sample_id": sample_id, "status": Status.QUEUED, "input_uri": input_uri,
                "created_at": now, "updated_at": now, "attempts": 0}
        try:
            self._db.put_item(TableName=self._table, Item=_to_dynamo(item),
                              ConditionExpression="attribute_not_exists(sample_id)",
                              ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if _condition_failed(exc):
                existing = exc.response.get("Item")
                raise RecordExists(sample_id, _from_dynamo(existing) if existing else None) from None
            raise
        return item

    def create_many(self, items: list[tuple[str, str]]) -> list[str]:
        """Create QUEUED records for (sample_id, input_uri) pairs, 25 per BatchWriteItem; returns the ids
        DynamoDB left unwritten after retries.

        BatchWriteItem takes no condition, so unlike ``create`` this overwrites: callers look the
        ids up with ``get_many`` first (``producer.submission``).
        """
        now = _now()
        unwritten = []
        for start in range(0, len(items), BATCH_WRITE_MAX):
            puts = [{"PutRequest": {"Item": _to_dynamo({
                "sample_id": sample_id, "status": Status.QUEUED, "input_uri": input_uri,
                "created_at": now, "updated_at": now, "attempts": 0})}}
                for sample_id, input_uri in items[start:start + BATCH_WRITE_MAX]]
            left = self._retry_unprocessed(
                lambda request: self._db.batch_write_item(RequestItems=request).get("UnprocessedItems", {}),
                {self._table: puts})
            unwritten += [put["PutRequest"]["Item"]["sample_id"]["S"] for put in left.get(self._table, [])]
        return unwritten

    def get_many(self, sample_ids: list[str]) -> dict[str, dict]:
        """The records that exist among ``sample_ids`` (unique), 100 per BatchGetItem, read consistently.

        Raises ``BatchIncomplete`` if DynamoDB still left keys unprocessed after retries.
        """
        found: dict[str, dict] = {}

        def get(request: dict) -> dict:
            response = self._db.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                record = _from_dynamo(item)
                found[record["sample_id"]] = record
            return response.get("UnprocessedKeys", {})

        for start in range(0, len(sample_ids), BATCH_GET_MAX):
            keys = [_key(sample_id) for sample_id in sample_ids[start:start + BATCH_GET_MAX]]
            if self._retry_unprocessed(get, {self._table: {"Keys": keys, "ConsistentRead": True}}):
                raise BatchIncomplete(f"DynamoDB left keys unread in {self._table} after {_BATCH_ATTEMPTS} attempts")
        return found

    @staticmethod
    def _retry_unprocessed(call, request: dict) -> dict:
        """``call(request)`` returns what DynamoDB left unprocessed; retried with backoff until nothing is."""
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                time.sleep(0.05 * 2 ** (attempt - 1))
            request = call(request)
            if not request:
                return {}
        return request

    def get(self, sample_id: str) -> dict:
        """The record as plain Python values; raises RecordNotFound."""
        response = self._db.get_item(TableName=self._table, Key=_key(sample_id), ConsistentRead=True)
        if "Item" not in response:
            raise RecordNotFound(sample_id)
        return _from_dynamo(response["Item"])

    def start(self, sample_id: str, input_uri: str) -> dict | None:
        """(no record)/QUEUED/PROCESSING → PROCESSING, counting the attempt.

        A missing record is created with ``input_uri``. Returns the updated record, or None
        when the record is already final (a redelivery of finished work: the caller must do
        nothing).
        """
        return self._transition(
            sample_id, Status.PROCESSING, create=True,
            condition="#status IN (:queued, :processing)",
            values={":queued": Status.QUEUED, ":processing": Status.PROCESSING},
            set_clauses=["attempts = if_not_exists(attempts, :zero) + :one",
                         "created_at = if_not_exists(created_at, :now)",
                         "input_uri = if_not_exists(input_uri, :input_uri)"],
            extra_values={":zero": 0, ":one": 1, ":input_uri": input_uri},
        )

    def complete(self, sample_id: str, results: dict) -> dict | None:
        """PROCESSING → COMPLETED with ``results``; None if it was not PROCESSING."""
        return self._transition(
            sample_id, Status.COMPLETED,
            condition="#status = :processing",
            values={":processing": Status.PROCESSING},
            set_clauses=["results = :results"],
            remove="#error",
            extra_values={":results": results},
        )

    def fail(self, sample_id: str, error: dict, seen: dict | None = None) -> dict | None:
        """Any non-final state → FAILED with ``error`` ({code, message}); None if final, or (given the
        record as ``seen``) if it changed since."""
        condition, values = "NOT #status IN (:completed, :failed)", {":completed": Status.COMPLETED,
                                                                        ":failed": Status.FAILED}
        if seen is not None:
            condition, values = f"{condition} AND {_UNCHANGED}", {**values, **_unchanged(seen)}
        return self._transition(sample_id, Status.FAILED, condition=condition, values=values,
                                set_clauses=["#error = :error"], extra_values={":error": error})

    def mark_dispatched(self, sample_id: str, via: str) -> None:
        """Note that the job was handed to ``via`` (``sqs`` or ``run-task``); the status is left alone."""
        self._db.update_item(TableName=self._table, Key=_key(sample_id),
                             UpdateExpression="SET dispatched_at = :now, dispatched_via = :via",
                             ConditionExpression="attribute_exists(sample_id)",
                             ExpressionAttributeValues=_to_dynamo({":now": _now(), ":via": via}))

    def redispatch(self, seen: dict) -> dict | None:
        """The record as ``seen`` (QUEUED or PROCESSING) → QUEUED, not dispatched, ``redispatches`` + 1;
        None if it changed since it was read (a worker got there first)."""
        return self._transition(
            seen["sample_id"], Status.QUEUED, condition=_UNCHANGED, values=_unchanged(seen),
            set_clauses=["redispatches = if_not_exists(redispatches, :zero) + :one"],
            remove="dispatched_at, dispatched_via", extra_values={":zero": 0, ":one": 1},
        )

    def unfinished(self) -> Iterator[dict]:
        """Every QUEUED or PROCESSING record: a Scan, which reads (and is billed for) the whole table."""
        pages = self._db.get_paginator("scan").paginate(
            TableName=self._table, FilterExpression="#status IN (:queued, :processing)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_dynamo({":queued": Status.QUEUED, ":processing": Status.PROCESSING}))
        for page in pages:
            yield from (_from_dynamo(item) for item in page["Items"])

    def requeue(self, sample_id: str) -> dict | None:
        """Any state but COMPLETED → QUEUED (a released or redriven job); None if COMPLETED."""
        return self._transition(
            sample_id, Status.QUEUED,
            condition="#status <> :completed",
            values={":completed": Status.COMPLETED},
        )

    def _transition(self, sample_id, status, *, condition, values, set_clauses=(), remove=None,
                    extra_values=None, create=False):
        """Conditionally set ``status``; None if the condition fails on an existing record.

        A missing record raises RecordNotFound, or with ``create`` is made by this very write.
        """
        update = "SET " + ", ".join(["#status = :status", "updated_at = :now", *set_clauses])
        if remove:
            update += " REMOVE " + remove
        names = {"#status": "status"}
        if "#error" in update:
            names["#error"] = "error"
        expression_values = {":status": status, ":now": _now(), **values, **(extra_values or {})}
        try:
            response = self._db.update_item(
                TableName=self._table, Key=_key(sample_id), UpdateExpression=update,
                ConditionExpression=(f"attribute_not_exists(sample_id) OR ({condition})" if create
                                     else f"attribute_exists(sample_id) AND ({condition})"),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_dynamo(expression_values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            if "Item" not in exc.response:
                raise RecordNotFound(sample_id) from None
            return None
        return _from_dynamo(response["Attributes"])


_SERIALIZER, _DESERIALIZER = TypeSerializer(), TypeDeserializer()
_UNCHANGED = "#status = :seen_status AND updated_at = :seen_at"


def _unchanged(seen: dict) -> dict:
    return {":seen_status": seen["status"], ":seen_at": seen["updated_at"]}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _key(sample_id: str) -> dict:
    return {"sample_id": {"S": sample_id}}


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _to_dynamo(values: dict) -> dict:
    """Plain values → DynamoDB attribute values (non-finite floats become NULL)."""
    return {k: _SERIALIZER.serialize(_decimals(v)) for k, v in values.items()}


def _from_dynamo(item: dict) -> dict:
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value

