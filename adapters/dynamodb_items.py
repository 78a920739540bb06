"""A job as a DynamoDB item (low-level attribute values), and back."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime
from typing import Any

from domain.failures import FailureKind, LastError, Service
from domain.job import Job, JobStatus, Retention, Watch
from ports.repository import JobSummary

# The reconciler's sparse index: only jobs the reconciler watches (QUEUED or
# PROCESSING) carry its keys. The partition key is the watch and a shard, so
# that each watch is queried on its own and a burst of submissions does not
# write to one index partition; the sort key is when the watch started.
WATCH_INDEX = "watched-by-age"
WATCH_SHARDS = 4
# Each caller's jobs, newest first: partition by owner, sorted by creation.
# It holds only what a list shows, so that the payload and the result are
# not copied into it on every save.
OWNER_INDEX = "owned-by-age"
OWNER_INDEX_ATTRIBUTES = ("type", "status", "updated_at", "attempts", "claims", "last_error", "cancel_requested")
# The table's TTL attribute: epoch seconds, on settled jobs only.
EXPIRY = "expires_at"

Item = dict[str, dict[str, Any]]


def watch_partition(watch: Watch, shard: int) -> str:
    return f"{watch.value}#{shard}"


def shard_of(job_id: str) -> int:
    return zlib.crc32(job_id.encode()) % WATCH_SHARDS


def to_item(job: Job, retention: Retention) -> Item:
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
        "owner": {"S": job.owner},
    }
    expiry = retention.expires_at(job)
    if expiry is not None:
        item[EXPIRY] = {"N": str(epoch_seconds(expiry))}
    if job.idempotency_key is not None:
        item["idempotency_key"] = {"S": job.idempotency_key}
    if job.enqueue_id is not None:
        item["enqueue_id"] = {"S": job.enqueue_id}
    if job.claims:
        item["claims"] = {"N": str(job.claims)}
    if job.result is not None:
        item["result"] = {"S": job.result}
    if job.payload is not None:
        item["payload"] = {"S": job.payload}
    if job.cancel_requested:
        item["cancel_requested"] = {"BOOL": True}
    for name in ("unconfirmed_since", "lease_until", "sent_at", "claim_until", "event_due"):
        moment = getattr(job, name)
        if moment is not None:
            item[name] = {"S": iso(moment)}
    if job.claim_id is not None:
        item["claim_id"] = {"S": job.claim_id}
    watch, since = job.watch, job.watched_since
    if watch is not None and since is not None:
        item["watch_partition"] = {"S": watch_partition(watch, shard_of(job.job_id))}
        item["watched_since"] = {"S": iso(since)}
    if job.last_error is not None:
        error = job.last_error
        item["last_error"] = {
            "M": {
                "code": {"S": error.code},
                "kind": {"S": error.kind.value},
                "message": {"S": error.message},
                "at": {"S": iso(error.at)},
                **({"service": {"S": error.service.value}} if error.service else {}),
            }
        }
    return item


def from_item(item: Item) -> Job:
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
        # Written before jobs had owners: no caller's.
        owner=item.get("owner", {}).get("S", ""),
        idempotency_key=item.get("idempotency_key", {}).get("S"),
        enqueue_id=item.get("enqueue_id", {}).get("S"),
        unconfirmed_since=_optional_time(item, "unconfirmed_since"),
        lease_until=_optional_time(item, "lease_until"),
        sent_at=_optional_time(item, "sent_at"),
        claim_id=item.get("claim_id", {}).get("S"),
        claim_until=_optional_time(item, "claim_until"),
        claims=int(item.get("claims", {}).get("N", "0")),
        result=item.get("result", {}).get("S"),
        event_due=_optional_time(item, "event_due"),
        payload=item.get("payload", {}).get("S"),
        cancel_requested=item.get("cancel_requested", {}).get("BOOL", False),
        last_error=_last_error(item),
    )


def summary_from_item(item: Item) -> JobSummary:
    """A job as the owner index holds it."""
    return JobSummary(
        job_id=item["job_id"]["S"],
        job_type=item["type"]["S"],
        status=JobStatus(item["status"]["S"]),
        created_at=_time(item["created_at"]),
        updated_at=_time(item["updated_at"]),
        attempts=int(item["attempts"]["N"]),
        claims=int(item.get("claims", {}).get("N", "0")),
        last_error=_last_error(item),
        cancel_requested=item.get("cancel_requested", {}).get("BOOL", False),
    )


def _last_error(item: Item) -> LastError | None:
    error = item.get("last_error", {}).get("M")
    if error is None:
        return None
    return LastError(
        code=error["code"]["S"],
        kind=FailureKind(error["kind"]["S"]),
        message=error["message"]["S"],
        at=_time(error["at"]),
        service=Service(error["service"]["S"]) if "service" in error else None,
    )


def expired(item: Item, now: datetime) -> bool:
    """Past its expiry, which DynamoDB's TTL deletes only eventually."""
    return EXPIRY in item and int(item[EXPIRY]["N"]) <= now.timestamp()


def epoch_seconds(moment: datetime) -> int:
    # Retention.expires_at is whole seconds already; ceil keeps it so.
    return math.ceil(moment.timestamp())


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601, so that text order is time order (the
    index's range condition compares strings)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _time(value: dict[str, str]) -> datetime:
    return datetime.fromisoformat(value["S"])


def _optional_time(item: Item, name: str) -> datetime | None:
    return _time(item[name]) if name in item else None
