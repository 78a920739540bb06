"""What moto cannot show of the DynamoDB adapter: reads that must be
strongly consistent, a query cut into pages as a real table cuts it at
1 MB, and what a store failure carries for the logs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from adapters.dynamodb_items import from_item, shard_of, to_item
from adapters.dynamodb_repository import DynamoDbJobRepository
from chaos.faults import AwsError, FaultInjector
from domain.failures import FailureKind
from domain.job import Expected, Job, Retention, Watch
from ports.repository import StoreFailed
from tests.fakes import EPOCH, FakeClock
from tests.integration.conftest import Aws
from tests.integration.test_contract import pending


def repository(aws: Aws) -> DynamoDbJobRepository:
    return DynamoDbJobRepository(aws.dynamodb, aws.table_name, FakeClock(EPOCH), Retention(timedelta(days=30)))


def waiting(n: int) -> Job:
    """QUEUED, unconfirmed, n seconds after the epoch: due on the confirmation watch."""
    return pending(f"job-{n:02d}", key=None).queued(
        enqueue_id=f"enq-{n}", correlation_id="c", at=EPOCH + timedelta(seconds=n), lease_until=EPOCH
    )


def parameters_of(client: Any, operation: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", lambda params, **_: seen.append(params))
    return seen


def test_every_read_of_a_job_is_strongly_consistent(aws: Aws) -> None:
    """An eventually consistent read could miss a write just made: the
    producer's own ambiguous create, a worker's claim."""
    reads = parameters_of(aws.dynamodb, "GetItem")

    repository(aws).get("job-1")

    assert [r["ConsistentRead"] for r in reads] == [True]


def test_a_query_cut_into_pages_is_followed_to_the_limit_oldest_first(aws: Aws) -> None:
    jobs = [waiting(n) for n in range(40)]
    shard = shard_of(jobs[0].job_id)
    same_shard = [job for job in jobs if shard_of(job.job_id) == shard]
    assert len(same_shard) >= 5
    store = repository(aws)
    for job in same_shard:
        store.create(job)
    queries = parameters_of(aws.dynamodb, "Query")

    def one_item_per_page(parsed: dict[str, Any], **_: Any) -> None:
        # As a table does when a page reaches 1 MB: fewer items than asked
        # for, and where to go on from.
        items = parsed.get("Items", [])
        if len(items) > 1:
            parsed["Items"] = items[:1]
            parsed["LastEvaluatedKey"] = {k: items[0][k] for k in ("job_id", "watch_partition", "watched_since")}

    aws.dynamodb.meta.events.register("after-call.dynamodb.Query", one_item_per_page)

    due = store.find_due(Watch.CONFIRMATION, EPOCH + timedelta(days=1), 4)

    assert [job.job_id for job in due] == [job.job_id for job in same_shard[:4]]
    in_shard = [q for q in queries if q["ExpressionAttributeValues"][":partition"]["S"].endswith(f"#{shard}")]
    assert [q["Limit"] for q in in_shard] == [4, 3, 2, 1]
    assert "ExclusiveStartKey" not in in_shard[0]
    assert [q["ExclusiveStartKey"]["job_id"]["S"] for q in in_shard[1:]] == [j.job_id for j in same_shard[:3]]


@pytest.mark.parametrize(
    ("fault", "status"),
    [(AwsError(400, "ProvisionedThroughputExceededException"), 400), (AwsError(500, "InternalServerError"), 500)],
)
def test_a_store_failure_carries_awss_code_wording_status_and_request_id(
    aws: Aws, fault: AwsError, status: int
) -> None:
    client = boto3.client("dynamodb", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    faults = FaultInjector()
    faults.attach(client)
    faults.add("GetItem", fault)

    with pytest.raises(StoreFailed) as caught:
        DynamoDbJobRepository(client, aws.table_name, FakeClock(EPOCH), Retention(timedelta(days=30))).get("job-1")

    failure = caught.value
    assert (failure.code, failure.message, failure.http_status) == (fault.code, "injected", status)
    assert failure.request_id


@pytest.mark.parametrize("operation", ["PutItem", "Query"])
def test_a_save_or_a_query_the_table_refuses_is_a_store_failure_of_its_kind(aws: Aws, operation: str) -> None:
    client = boto3.client("dynamodb", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    store = DynamoDbJobRepository(client, aws.table_name, FakeClock(EPOCH), Retention(timedelta(days=30)))
    job = waiting(1)
    store.create(job)
    faults = FaultInjector()
    faults.attach(client)
    faults.add(operation, AwsError(400, "ThrottlingException"))

    with pytest.raises(StoreFailed) as caught:
        if operation == "PutItem":
            store.save(job.sent(attempts=1, at=EPOCH), Expected.of(job))
        else:
            store.find_due(Watch.CONFIRMATION, EPOCH + timedelta(days=1), 10)

    assert (caught.value.kind, caught.value.code) == (FailureKind.THROTTLED, "ThrottlingException")


def test_an_item_written_before_jobs_had_owners_is_no_callers() -> None:
    job = waiting(1)
    item = to_item(job, Retention(timedelta(days=30)))
    del item["owner"]

    assert from_item(item).owner == ""
