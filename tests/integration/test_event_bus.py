"""Completion events on EventBridge (moto server): what a subscriber reads,
and every failure of PutEvents classified, the call's and its entry's."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest

from adapters.eventbridge_bus import EventBridgeBus
from adapters.sqs_publisher import sqs_config
from chaos.faults import AwsError, FaultInjector, Raise, aws_response, never_connected, read_timeout
from domain.failures import FailureKind, LastError, Service
from ports.events import SOURCE, CompletionEvent, EventPutFailed
from tests.fakes import EPOCH

EVENT = CompletionEvent(
    job_id="job-1",
    owner="arn:aws:iam::123456789012:role/orders",
    job_type="thumbnail",
    status="SUCCEEDED",
    correlation_id="corr-1",
    finished_at=EPOCH + timedelta(seconds=3),
    processing_attempts=2,
    result='{"url":"s3://b/k.png"}',
)


@pytest.fixture
def subscribed(aws_environment: None) -> tuple[EventBridgeBus, Any, str]:
    """A bus with a rule sending every job event to a queue, as a subscriber would."""
    suffix = uuid.uuid4().hex[:8]
    # One attempt a call, as the service configures its clients: every retry is the domain's.
    events = boto3.client("events", config=sqs_config(connect_timeout_s=1, read_timeout_s=2))
    sqs = boto3.client("sqs")
    bus = events.create_event_bus(Name=f"jobs-{suffix}")["EventBusArn"].rsplit("/", 1)[-1]
    queue_url = sqs.create_queue(QueueName=f"subscriber-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"jobs-{suffix}", EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule=f"jobs-{suffix}", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    return EventBridgeBus(events, bus), sqs, queue_url


def test_a_subscriber_reads_the_jobs_final_state_and_result(subscribed: tuple[EventBridgeBus, Any, str]) -> None:
    bus, sqs, queue_url = subscribed

    bus.put(EVENT)

    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == (SOURCE, "Job Succeeded")
    assert event["detail"] == {
        "job_id": "job-1",
        "owner": "arn:aws:iam::123456789012:role/orders",
        "type": "thumbnail",
        "status": "SUCCEEDED",
        "correlation_id": "corr-1",
        "finished_at": "2026-01-01T00:00:03.000000+00:00",
        "processing_attempts": 2,
        "result": {"url": "s3://b/k.png"},
    }


def test_a_failed_jobs_event_carries_its_error(subscribed: tuple[EventBridgeBus, Any, str]) -> None:
    bus, sqs, queue_url = subscribed
    error = LastError("Doomed", FailureKind.PROCESSING, "no", EPOCH)

    bus.put(CompletionEvent("job-2", "o", "t", "FAILED", "c", EPOCH, 1, error=error))

    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    event = json.loads(message["Body"])
    assert event["detail-type"] == "Job Failed"
    assert event["detail"]["error"] == {"code": "Doomed", "kind": "processing", "message": "no"}
    assert "result" not in event["detail"]


def test_an_outside_services_wording_never_reaches_the_event(subscribed: tuple[EventBridgeBus, Any, str]) -> None:
    bus, sqs, queue_url = subscribed
    wording = "User: arn:aws:sts::123456789012:assumed-role/worker/fn is not authorized to perform: dynamodb:PutItem"
    error = LastError("AccessDeniedException", FailureKind.PERMANENT, wording, EPOCH, Service.STORE)

    bus.put(CompletionEvent("job-3", "o", "t", "FAILED", "c", EPOCH, 1, error=error))

    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"])["detail"]["error"]["message"] == (
        "the job store (DynamoDB) refused the request; the deployment needs a fix"
    )


@pytest.mark.parametrize(
    ("fault", "kind", "code"),
    [
        (AwsError(400, "ThrottlingException"), FailureKind.THROTTLED, "ThrottlingException"),
        (AwsError(500, "InternalException"), FailureKind.AMBIGUOUS, "InternalException"),
        (AwsError(400, "ResourceNotFoundException"), FailureKind.PERMANENT, "ResourceNotFoundException"),
        (AwsError(400, "AccessDeniedException"), FailureKind.PERMANENT, "AccessDeniedException"),
        (AwsError(503, "SomethingNew"), FailureKind.AMBIGUOUS, "SomethingNew"),
        (Raise(never_connected), FailureKind.NOT_SENT, "EndpointConnectionError"),
        (Raise(read_timeout), FailureKind.AMBIGUOUS, "ReadTimeoutError"),
    ],
)
def test_every_failure_of_the_call_is_classified(
    subscribed: tuple[EventBridgeBus, Any, str], fault: Any, kind: FailureKind, code: str
) -> None:
    bus, _, _ = subscribed
    faults = FaultInjector()
    faults.attach(bus._client)
    faults.add("PutEvents", fault)

    with pytest.raises(EventPutFailed) as caught:
        bus.put(EVENT)

    assert (caught.value.kind, caught.value.code) == (kind, code)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ThrottlingException", FailureKind.THROTTLED),
        ("InternalFailure", FailureKind.AMBIGUOUS),
        ("MalformedDetail", FailureKind.PERMANENT),
    ],
)
def test_an_entry_the_bus_refused_is_a_failure_of_its_own_kind(
    subscribed: tuple[EventBridgeBus, Any, str], code: str, kind: FailureKind
) -> None:
    bus, _, _ = subscribed

    def refuse_the_entry(request: Any, **_: Any) -> Any:
        return aws_response(
            request.url, 200, {"FailedEntryCount": 1, "Entries": [{"ErrorCode": code, "ErrorMessage": "refused"}]}
        )

    bus._client.meta.events.register("before-send", refuse_the_entry)

    with pytest.raises(EventPutFailed) as caught:
        bus.put(EVENT)

    assert (caught.value.kind, caught.value.code, caught.value.http_status) == (kind, code, 200)
    assert (caught.value.message, caught.value.request_id) == ("refused", "injected-request-id")


def test_an_entry_refused_without_a_code_is_named_and_may_be_retried(
    subscribed: tuple[EventBridgeBus, Any, str],
) -> None:
    bus, _, _ = subscribed
    bus._client.meta.events.register(
        "before-send", lambda request, **_: aws_response(request.url, 200, {"FailedEntryCount": 1, "Entries": [{}]})
    )

    with pytest.raises(EventPutFailed) as caught:
        bus.put(EVENT)

    assert (caught.value.kind, caught.value.code, caught.value.message) == (FailureKind.AMBIGUOUS, "FailedEntry", "")


def test_a_failed_call_carries_its_wording_status_and_request_id(subscribed: tuple[EventBridgeBus, Any, str]) -> None:
    bus, _, _ = subscribed
    faults = FaultInjector()
    faults.attach(bus._client)
    faults.add("PutEvents", AwsError(400, "AccessDeniedException"))

    with pytest.raises(EventPutFailed) as caught:
        bus.put(EVENT)

    assert (caught.value.message, caught.value.http_status, caught.value.request_id) == (
        "injected",
        400,
        "injected-request-id",
    )
