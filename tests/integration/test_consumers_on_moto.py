"""The reconciler and the worker through their Lambda handlers, on moto."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from dependency_injector import providers

from chaos.faults import AwsError, Crash, FaultInjector, Pass, Raise, crash, read_timeout
from chaos.system import ShiftedClock
from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from entrypoints.sqs_events import sqs_event
from tests.events import body_of, event, submit
from tests.integration.conftest import Aws, settings_for

UNAVAILABLE = AwsError(503, "ServiceUnavailable", "ServiceUnavailable")
DDB_THROTTLED = AwsError(400, "ProvisionedThroughputExceededException")


def test_a_job_left_queued_by_a_failed_rollback_is_pending_after_one_reconciler_run(
    container: Container, aws: Aws, faults: FaultInjector
) -> None:
    faults.add("SendMessage", *[UNAVAILABLE] * 4)
    faults.add("PutItem", Pass(), *[DDB_THROTTLED] * 3)
    answer = container.jobs_api()(submit(), LocalContext(30_000))
    assert answer["statusCode"] == 500
    job_id = body_of(answer)["job_id"]
    container.settings.override(providers.Object(settings_for(aws, reconcile_grace_seconds=0)))

    report = container.scheduled_reconciler()({"id": "scheduled-run-1"}, LocalContext(60_000))

    assert report["settled"] == 1
    view = body_of(container.jobs_api()(event("GET", f"/jobs/{job_id}"), LocalContext(30_000)))
    assert view["status"] == "PENDING"
    assert view["last_error"]["code"] == "Abandoned"
    again = container.scheduled_reconciler()({"id": "scheduled-run-2"}, LocalContext(60_000))
    assert again["found"] == 0  # settled jobs leave the index: a second run has nothing to do


def test_the_reconciler_leaves_accepted_jobs_alone(container: Container, aws: Aws) -> None:
    assert container.jobs_api()(submit(), LocalContext(30_000))["statusCode"] == 202
    container.settings.override(providers.Object(settings_for(aws, reconcile_grace_seconds=0)))

    report = container.scheduled_reconciler()({}, LocalContext(60_000))

    assert report["found"] == 0
    [item] = aws.items()
    assert item["status"]["S"] == "QUEUED"


def test_a_batch_with_a_live_a_stale_and_a_duplicate_message(
    container: Container, aws: Aws, faults: FaultInjector
) -> None:
    api = container.jobs_api()
    live_job = body_of(api(submit({"n": 1}), LocalContext(30_000)))["job_id"]
    faults.add("SendMessage", *[Raise(read_timeout, delivered=True)] * 4)
    stale_job = body_of(api(submit({"n": 2}), LocalContext(30_000)))["job_id"]
    messages = aws.messages()
    by_job = {json.loads(m["Body"])["job_id"]: m for m in messages}
    live_message, stale_message = by_job[live_job], by_job[stale_job]
    stale_before = aws.item(stale_job)
    worker = container.batch_worker()

    batch = sqs_event([live_message, stale_message, live_message], aws.queue_url)
    result = worker(batch, LocalContext(60_000))

    assert result == {"batchItemFailures": []}
    assert (aws.item(live_job) or {})["status"]["S"] == "SUCCEEDED"
    assert aws.item(stale_job) == stale_before
    after = aws.items()
    assert worker(batch, LocalContext(60_000)) == {"batchItemFailures": []}  # a redelivery
    assert aws.items() == after


def test_only_the_record_whose_store_call_failed_comes_back(
    container: Container, aws: Aws, faults: FaultInjector
) -> None:
    api = container.jobs_api()
    for n in range(2):
        api(submit({"n": n}), LocalContext(30_000))
    messages = aws.messages()
    # The worker's read is retried (STORE_MAX_ATTEMPTS, 3): fail every attempt.
    faults.add("GetItem", *[AwsError(500, "InternalServerError")] * 3)

    result = container.batch_worker()(sqs_event(messages, aws.queue_url), LocalContext(60_000))

    assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}


def test_a_body_that_is_not_a_job_message_is_left_for_the_dead_letter_queue(container: Container, aws: Aws) -> None:
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="hello")
    [message] = aws.messages()

    result = container.batch_worker()(sqs_event([message], aws.queue_url), LocalContext(60_000))

    assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}


def test_on_a_fifo_queue_the_copy_an_ambiguous_send_left_is_dropped_by_sqs(aws: Aws, faults: FaultInjector) -> None:
    fifo_url = aws.sqs.create_queue(QueueName=aws.table_name + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    container = Container()
    container.settings.override(providers.Object(settings_for(aws, queue_url=fifo_url)))
    faults.attach(container.ports.sqs_client())
    faults.add("SendMessage", Raise(read_timeout, delivered=True))

    answer = container.jobs_api()(submit(), LocalContext(30_000))

    assert answer["statusCode"] == 202
    assert faults.calls["SendMessage"] == 2
    received = aws.sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10, AttributeNames=["All"])
    [message] = received["Messages"]
    body = json.loads(message["Body"])
    assert message["Attributes"]["MessageDeduplicationId"] == body["enqueue_id"]
    assert message["Attributes"]["MessageGroupId"] == body["job_id"]


def test_on_a_fifo_queue_a_failure_holds_back_the_rest_of_the_batch(container: Container, aws: Aws) -> None:
    fifo_url = aws.sqs.create_queue(
        QueueName=aws.table_name + ".fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    aws.sqs.send_message(QueueUrl=fifo_url, MessageBody="not a job", MessageGroupId="g")
    # On its own this one would be acknowledged (its job does not exist: stale).
    valid = {"job_id": "gone", "enqueue_id": "e", "payload": {}, "correlation_id": "c"}
    aws.sqs.send_message(QueueUrl=fifo_url, MessageBody=json.dumps(valid), MessageGroupId="g")
    messages = aws.sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)["Messages"]

    result = container.batch_worker()(sqs_event(messages, fifo_url), LocalContext(60_000))

    assert len(messages) == 2
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [m["MessageId"] for m in messages]
    alone = container.batch_worker()(sqs_event(messages[1:], fifo_url), LocalContext(60_000))
    assert alone == {"batchItemFailures": []}


def test_a_job_whose_worker_died_after_its_claim_is_taken_over_by_the_redelivery(
    container: Container, aws: Aws, faults: FaultInjector
) -> None:
    clock = ShiftedClock()
    container.ports.clock.override(providers.Object(clock))
    api = container.jobs_api()
    api(submit({"n": 1}), LocalContext(30_000))
    [message] = aws.messages()
    faults.add("PutItem", Pass(), Raise(crash))  # the claim lands; the completion never happens
    worker = container.batch_worker()
    with pytest.raises(Crash):
        worker(sqs_event([message], aws.queue_url), LocalContext(10_000))
    [item] = aws.items()
    assert item["status"]["S"] == "PROCESSING" and item["watch_partition"]["S"].startswith("completion#")

    # A redelivery inside the dead worker's lease leaves the message alone...
    assert worker(sqs_event([message], aws.queue_url), LocalContext(60_000)) == {
        "batchItemFailures": [{"itemIdentifier": message["MessageId"]}]
    }
    # ...and one after it takes the claim over as the second attempt.
    clock.shift += timedelta(seconds=20)  # past the 10 s invocation and the clock skew
    assert worker(sqs_event([message], aws.queue_url), LocalContext(60_000)) == {"batchItemFailures": []}
    [item] = aws.items()
    assert (item["status"]["S"], item["claims"]["N"]) == ("SUCCEEDED", "2")
    assert "watch_partition" not in item
