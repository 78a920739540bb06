"""The baseline: a minimal handler making the same AWS calls with plain
boto3, written by hand: the same item and conditions on create, the same
message, the same conditional confirmation. No validation, no retries, no
rollback, no logs: what the service adds on top is what the ratio shows."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
TABLE, QUEUE = os.environ["TABLE_NAME"], os.environ["QUEUE_URL"]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    document = json.loads(event["body"])
    job_id, enqueue_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    at = now.isoformat(timespec="microseconds")
    item = {
        "job_id": {"S": job_id},
        "type": {"S": document["type"]},
        "status": {"S": "QUEUED"},
        "version": {"N": "1"},
        "attempts": {"N": "0"},
        "created_at": {"S": at},
        "updated_at": {"S": at},
        "request_hash": {"S": hashlib.sha256(event["body"].encode()).hexdigest()},
        "correlation_id": {"S": event["requestContext"]["requestId"]},
        "enqueue_id": {"S": enqueue_id},
        "unconfirmed_since": {"S": at},
        "watch_partition": {"S": f"confirmation#{zlib.crc32(job_id.encode()) % 4}"},
        "watched_since": {"S": at},
        "lease_until": {"S": (now + timedelta(seconds=25)).isoformat(timespec="microseconds")},
    }
    dynamodb.put_item(
        TableName=TABLE,
        Item=item,
        ConditionExpression="attribute_not_exists(job_id)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    body = {"job_id": job_id, "enqueue_id": enqueue_id, **document, "submitted_at": at}
    sqs.send_message(
        QueueUrl=QUEUE,
        MessageBody=json.dumps(body),
        MessageAttributes={"correlation_id": {"DataType": "String", "StringValue": item["correlation_id"]["S"]}},
    )
    confirmed = {k: v for k, v in item.items() if k not in ("unconfirmed_since", "lease_until")}
    sent_at = datetime.now(UTC).isoformat()
    confirmed.update(
        version={"N": "2"},
        attempts={"N": "1"},
        updated_at={"S": sent_at},
        sent_at={"S": sent_at},
        watch_partition={"S": f"delivery#{zlib.crc32(job_id.encode()) % 4}"},
        watched_since={"S": sent_at},
    )
    dynamodb.put_item(
        TableName=TABLE,
        Item=confirmed,
        ConditionExpression="#status = :status AND #version = :version AND enqueue_id = :enqueue_id",
        ExpressionAttributeNames={"#status": "status", "#version": "version"},
        ExpressionAttributeValues={
            ":status": {"S": "QUEUED"},
            ":version": {"N": "1"},
            ":enqueue_id": {"S": enqueue_id},
        },
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    return {
        "statusCode": 202,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"job_id": job_id, "status": "QUEUED"}),
    }
