"""A job as a DynamoDB item (low-level attribute values), and back."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from domain.failures import FailureKind, LastError
from domain.job import Job, JobStatus

# The reconciler's sparse index: only jobs whose send is unconfirmed carry
# its keys. The partition key spreads them over a few shards so that a burst
# of submissions does not write to one index partition.
UNCONFIRMED_INDEX = "unconfirmed-by-age"
UNCONFIRMED_SHARDS = 4

Item = dict[str, dict[str, Any]]


def shard_of(job_id: str) -> str:
    return str(zlib.crc32(job_id.encode()) % UNCONFIRMED_SHARDS)


def to_item(job: Job) -> Item:
    item: Item = {
        "job_id": {"S": job.job_id},
        "type": {"S": job.job_type},
        "status": {"S": job.status.value},
        "version": {"N": str(job.version)},
        "attempts": {"N": str(job.attempts)},
        "created_at": {"S": iso(job.created_at)},
        "updated_at": {"S": iso(job.updated_at)},
        "request_hash": {"S": job.request_hash},
        "correlation_id": {"S": job.correlation_id},
    }
    if job.idempotency_key is not None:
        item["idempotency_key"] = {"S": job.idempotency_key}
    if job.enqueue_id is not None:
        item["enqueue_id"] = {"S": job.enqueue_id}
    if job.unconfirmed_since is not None:
        item["unconfirmed_since"] = {"S": iso(job.unconfirmed_since)}
        item["unconfirmed_shard"] = {"S": shard_of(job.job_id)}
    if job.lease_until is not None:
        item["lease_until"] = {"S": iso(job.lease_until)}
    if job.claim_id is not None:
        item["claim_id"] = {"S": job.claim_id}
    if job.last_error is not None:
        error = job.last_error
        item["last_error"] = {
            "M": {
                "code": {"S": error.code},
                "kind": {"S": error.kind.value},
                "message": {"S": error.message},
                "at": {"S": iso(error.at)},
            }
        }
    return item


def from_item(item: Item) -> Job:
    error = item.get("last_error", {}).get("M")
    return Job(
        job_id=item["job_id"]["S"],
        job_type=item["type"]["S"],
        status=JobStatus(item["status"]["S"]),
        version=int(item["version"]["N"]),
        attempts=int(item["attempts"]["N"]),
        created_at=_time(item["created_at"]),
        updated_at=_time(item["updated_at"]),
        request_hash=item["request_hash"]["S"],
        correlation_id=item["correlation_id"]["S"],
        idempotency_key=item.get("idempotency_key", {}).get("S"),
        enqueue_id=item.get("enqueue_id", {}).get("S"),
        unconfirmed_since=_time(item["unconfirmed_since"]) if "unconfirmed_since" in item else None,
        lease_until=_time(item["lease_until"]) if "lease_until" in item else None,
        claim_id=item.get("claim_id", {}).get("S"),
        last_error=None
        if error is None
        else LastError(
            code=error["code"]["S"],
            kind=FailureKind(error["kind"]["S"]),
            message=error["message"]["S"],
            at=_time(error["at"]),
        ),
    )


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601, so that text order is time order (the
    index's range condition compares strings)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _time(value: dict[str, str]) -> datetime:
    return datetime.fromisoformat(value["S"])
