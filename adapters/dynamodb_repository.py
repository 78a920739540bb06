"""``JobRepository`` on Amazon DynamoDB (boto3 low-level client)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from adapters.aws_errors import classify
from adapters.dynamodb_items import (
    EXPIRY,
    OWNER_INDEX,
    WATCH_INDEX,
    WATCH_SHARDS,
    expired,
    from_item,
    iso,
    summary_from_item,
    to_item,
    watch_partition,
)
from domain.failures import FailureKind
from domain.job import Expected, Job, JobStatus, Retention, Watch
from ports.repository import AlreadyExists, ConditionFailed, JobSummary, Page, Position, StoreFailed
from ports.runtime import Clock

STORE_ERRORS = {
    "ProvisionedThroughputExceededException": FailureKind.THROTTLED,
    "ThrottlingException": FailureKind.THROTTLED,
    "RequestLimitExceeded": FailureKind.THROTTLED,
    # Another transaction held the item: nothing was written.
    "TransactionConflictException": FailureKind.THROTTLED,
    # A guarded create's transaction, cancelled for anything but a taken id
    # (a conflicting transaction, throttling): nothing was written.
    "TransactionCanceledException": FailureKind.THROTTLED,
    "InternalServerError": FailureKind.AMBIGUOUS,
    "ServiceUnavailable": FailureKind.AMBIGUOUS,
    "ResourceNotFoundException": FailureKind.PERMANENT,
    "AccessDeniedException": FailureKind.PERMANENT,
    "UnrecognizedClientException": FailureKind.PERMANENT,
    "ValidationException": FailureKind.PERMANENT,
    "ItemCollectionSizeLimitExceededException": FailureKind.PERMANENT,
}

# A list request reads at most this many index pages: a status filter that
# matches little answers a short page with a cursor rather than read on.
_MAX_LIST_QUERIES = 5

_ABSENT = "attribute_not_exists(job_id) OR #expiry <= :now"

# Timeline of a save that loses to a worker:
#   producer reads nothing, writes "status=QUEUED, version=v, enqueue_id=e";
#   a worker that took the job first wrote version v+1 -> the save fails and
#   ReturnValuesOnConditionCheckFailure hands back the PROCESSING item.
_SAVE_CONDITION = "#status = :status AND #version = :version AND created_at = :created_at AND "


class DynamoDbJobRepository:
    def __init__(self, client: Any, table_name: str, clock: Clock, retention: Retention) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._retention = retention

    def create(self, job: Job, unless_taken: str | None = None) -> None:
        # An expired item is absent to the service: its id may be taken again,
        # by the same single write.
        absent = {
            "ConditionExpression": _ABSENT,
            "ExpressionAttributeNames": {"#expiry": EXPIRY},
            "ExpressionAttributeValues": {":now": {"N": str(self._clock.now().timestamp())}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        put = {"TableName": self._table, "Item": to_item(job, self._retention), **absent}
        try:
            if unless_taken is None:
                self._client.put_item(**put)
            else:
                # One transaction, so that DynamoDB orders it against any
                # create of the other id: two writers of one key, whichever
                # key each made its id with, cannot both succeed.
                other = {"TableName": self._table, "Key": {"job_id": {"S": unless_taken}}, **absent}
                self._client.transact_write_items(TransactItems=[{"Put": put}, {"ConditionCheck": other}])
        except ClientError as exc:
            if _condition_failed(exc):
                raise AlreadyExists(from_item(exc.response["Item"])) from exc
            taken = _taken_in_transaction(exc)
            if taken is not None:
                raise AlreadyExists(from_item(taken)) from exc
            raise _store_failed(exc) from exc
        except BotoCoreError as exc:
            raise _store_failed(exc) from exc

    def save(self, job: Job, expected: Expected) -> None:
        names = {"#status": "status", "#version": "version"}
        values: dict[str, Any] = {
            ":status": {"S": expected.status.value},
            ":version": {"N": str(expected.version)},
            ":created_at": {"S": iso(expected.created_at)},
        }
        if expected.enqueue_id is None:
            condition = _SAVE_CONDITION + "attribute_not_exists(enqueue_id)"
        else:
            condition = _SAVE_CONDITION + "enqueue_id = :enqueue_id"
            values[":enqueue_id"] = {"S": expected.enqueue_id}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(job, self._retention),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                item = exc.response.get("Item")
                raise ConditionFailed(job.job_id, from_item(item) if item else None) from exc
            raise _store_failed(exc) from exc
        except BotoCoreError as exc:
            raise _store_failed(exc) from exc

    def get(self, job_id: str) -> Job | None:
        try:
            answer = self._client.get_item(TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise _store_failed(exc) from exc
        item = answer.get("Item")
        return from_item(item) if item and not expired(item, self._clock.now()) else None

    def list_owned(self, owner: str, status: JobStatus | None, limit: int, after: Position | None) -> Page:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "ScanIndexForward": False,
        }
        if status is not None:
            # Applied after the read: a rare status costs the reads of the
            # jobs it skips (bounded below), not a second index.
            request["FilterExpression"] = "#status = :status"
            request["ExpressionAttributeNames"]["#status"] = "status"
            request["ExpressionAttributeValues"][":status"] = {"S": status.value}
        if after is not None:
            request["ExclusiveStartKey"] = _owner_key(owner, after)
        found: list[JobSummary] = []
        position = after
        for _ in range(_MAX_LIST_QUERIES):
            request["Limit"] = limit - len(found)
            try:
                answer = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise _store_failed(exc) from exc
            now = self._clock.now()
            found.extend(summary_from_item(item) for item in answer.get("Items", []) if not expired(item, now))
            last = answer.get("LastEvaluatedKey")
            if last is None:
                return Page(found, None)
            position = (datetime.fromisoformat(last["created_at"]["S"]), last["job_id"]["S"])
            if len(found) >= limit:
                break
            request["ExclusiveStartKey"] = last
        # A page that ends early (a filter that skipped many) still says where to go on.
        return Page(found, position)

    def find_due(self, watch: Watch, before: datetime, limit: int) -> list[Job]:
        # Each shard's oldest, merged by age: a backlog in one shard must not
        # starve the others.
        found: list[Job] = []
        for shard in range(WATCH_SHARDS):
            found.extend(self._oldest(watch_partition(watch, shard), before, limit))
        return sorted(found, key=lambda job: job.watched_since or before)[:limit]

    def _oldest(self, partition: str, before: datetime, limit: int) -> list[Job]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": WATCH_INDEX,
            "KeyConditionExpression": "watch_partition = :partition AND watched_since < :before",
            "ExpressionAttributeValues": {":partition": {"S": partition}, ":before": {"S": iso(before)}},
        }
        found: list[Job] = []
        while len(found) < limit:
            request["Limit"] = limit - len(found)
            try:
                answer = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise _store_failed(exc) from exc
            found.extend(from_item(item) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return found


def _owner_key(owner: str, position: Position) -> dict[str, Any]:
    created_at, job_id = position
    return {"owner": {"S": owner}, "created_at": {"S": iso(created_at)}, "job_id": {"S": job_id}}


def _taken_in_transaction(exc: ClientError) -> dict[str, Any] | None:
    """The item whose condition cancelled the transaction, if one did."""
    for reason in exc.response.get("CancellationReasons") or []:
        if reason.get("Code") == "ConditionalCheckFailed" and "Item" in reason:
            item: dict[str, Any] = reason["Item"]
            return item
    return None


def _condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _store_failed(exc: Exception) -> StoreFailed:
    failure = classify(exc, STORE_ERRORS)
    return StoreFailed(
        failure.kind, failure.code, failure.message, http_status=failure.http_status, request_id=failure.request_id
    )
