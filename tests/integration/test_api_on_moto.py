"""The API handler end to end on moto server, with faults between it and AWS.

Each test checks the answer and what DynamoDB and SQS hold afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from dependency_injector import providers

from chaos.faults import AwsError, FaultInjector, Pass, Raise, connection_closed, read_timeout
from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from tests.conftest import Records
from tests.events import body_of, event, submit
from tests.integration.conftest import Aws, settings_for

Call = Callable[..., dict[str, Any]]

THROTTLED = AwsError(400, "RequestThrottled", "RequestThrottled")
UNAVAILABLE = AwsError(503, "ServiceUnavailable", "ServiceUnavailable")
QUEUE_MISSING = AwsError(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
DDB_THROTTLED = AwsError(400, "ProvisionedThroughputExceededException")


@pytest.fixture
def call(container: Container) -> Call:
    api = container.jobs_api()

    def call(evt: dict[str, Any], timeout_ms: int = 30_000) -> dict[str, Any]:
        return api(evt, LocalContext(timeout_ms))

    return call


def live(aws: Aws) -> list[dict[str, Any]]:
    """Messages whose job is QUEUED with their enqueue_id."""
    result = []
    for message in aws.messages():
        body = json.loads(message["Body"])
        item = aws.item(body["job_id"]) or {}
        if item.get("status", {}).get("S") == "QUEUED" and item.get("enqueue_id", {}).get("S") == body["enqueue_id"]:
            result.append(body)
    return result


def status_of(aws: Aws, job_id: str) -> str:
    item = aws.item(job_id)
    assert item is not None
    return str(item["status"]["S"])


class TestAccepted:
    def test_a_job_is_recorded_queued_and_sent_in_three_aws_calls(
        self, call: Call, aws: Aws, faults: FaultInjector
    ) -> None:
        response = call(submit({"size": 3}, headers={"X-Correlation-Id": "corr-42"}))

        assert response["statusCode"] == 202
        body = body_of(response)
        assert body == {"job_id": body["job_id"], "status": "QUEUED", "correlation_id": "corr-42"}
        assert response["headers"]["Location"] == f"/jobs/{body['job_id']}"
        assert response["headers"]["X-Correlation-Id"] == "corr-42"
        assert sum(faults.calls.values()) == 3
        item = aws.item(body["job_id"])
        assert item is not None and item["status"]["S"] == "QUEUED"
        assert "unconfirmed_since" not in item and "lease_until" not in item  # confirmed: the reconciler skips it
        [message] = aws.messages()
        sent = json.loads(message["Body"])
        assert sent["job_id"] == body["job_id"] and sent["enqueue_id"] == item["enqueue_id"]["S"]
        assert (sent["type"], sent["payload"], sent["correlation_id"]) == ("resize", {"size": 3}, "corr-42")
        assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "corr-42"

    def test_the_correlation_id_defaults_to_the_api_gateway_request_id(self, call: Call) -> None:
        response = call(submit())
        assert response["headers"]["X-Correlation-Id"] == "apigw-request-1"
        assert body_of(response)["correlation_id"] == "apigw-request-1"

    @pytest.mark.parametrize(
        "fault",
        [THROTTLED, UNAVAILABLE, Raise(connection_closed), AwsError(400, "KmsThrottled", "KMS.ThrottlingException")],
        ids=["throttled", "5xx", "dropped", "kms-throttled"],
    )
    def test_a_send_that_recovers_within_the_attempts_gives_202_and_one_live_message(
        self, call: Call, aws: Aws, faults: FaultInjector, fault: Any
    ) -> None:
        faults.add("SendMessage", fault, fault)

        response = call(submit())

        assert response["statusCode"] == 202
        assert faults.calls["SendMessage"] == 3
        assert [m["job_id"] for m in live(aws)] == [body_of(response)["job_id"]]

    def test_a_job_can_be_read_back(self, call: Call) -> None:
        job_id = body_of(call(submit()))["job_id"]

        response = call(event("GET", f"/jobs/{job_id}"))

        assert response["statusCode"] == 200
        view = body_of(response)
        assert (view["job_id"], view["status"], view["type"], view["attempts"]) == (job_id, "QUEUED", "resize", 1)
        assert {"created_at", "updated_at"} <= set(view) and "last_error" not in view


class TestSendFailures:
    def test_a_permanent_failure_is_sent_once_and_answers_500(
        self, call: Call, aws: Aws, faults: FaultInjector
    ) -> None:
        faults.add("SendMessage", QUEUE_MISSING)

        response = call(submit())

        assert response["statusCode"] == 500
        assert response["headers"]["Content-Type"] == "application/problem+json"
        problem = body_of(response)
        assert problem["retryable"] is False and problem["status"] == 500
        assert "AWS.SimpleQueueService.NonExistentQueue" in problem["detail"]
        assert faults.calls["SendMessage"] == 1
        assert status_of(aws, problem["job_id"]) == "PENDING"
        view = body_of(call(event("GET", f"/jobs/{problem['job_id']}")))
        assert view["last_error"]["kind"] == "permanent" and view["attempts"] == 1

    def test_the_services_own_wording_stays_in_the_logs_and_the_client_reads_a_fixed_text(
        self, call: Call, aws: Aws, faults: FaultInjector, log_of: Callable[[str], Records]
    ) -> None:
        log = log_of("jobs.enqueue")
        wording = (
            "User: arn:aws:sts::123456789012:assumed-role/JobIntake-ApiRole/fn is not authorized to perform: "
            "sqs:sendmessage on resource: arn:aws:sqs:us-east-1:123456789012:jobs"
        )
        faults.add("SendMessage", AwsError(403, "AccessDenied", "AccessDenied", wording))

        problem = body_of(call(submit()))
        view = body_of(call(event("GET", f"/jobs/{problem['job_id']}")))

        assert view["last_error"]["code"] == "AccessDenied"
        assert view["last_error"]["message"] == "the queue (SQS) refused the request; the deployment needs a fix"
        assert "123456789012" not in json.dumps(problem) + json.dumps(view)
        assert wording in [fields.get("error") for _, _, fields in log.of("error")]

    @pytest.mark.parametrize(
        "fault", [THROTTLED, UNAVAILABLE, Raise(read_timeout)], ids=["throttled", "5xx", "timeout"]
    )
    def test_a_persistent_transient_failure_answers_503_with_the_job_pending(
        self, call: Call, aws: Aws, faults: FaultInjector, fault: Any
    ) -> None:
        faults.add("SendMessage", *[fault] * 4)

        response = call(submit())

        assert response["statusCode"] == 503
        assert response["headers"]["Retry-After"] == "1"
        problem = body_of(response)
        assert problem["retryable"] is True
        assert status_of(aws, problem["job_id"]) == "PENDING"
        assert live(aws) == []

    def test_sends_delivered_whose_answers_were_lost_leave_only_stale_messages(
        self, call: Call, aws: Aws, faults: FaultInjector
    ) -> None:
        faults.add("SendMessage", *[Raise(read_timeout, delivered=True)] * 4)

        response = call(submit())

        assert response["statusCode"] == 503
        messages = aws.messages()
        assert len(messages) == 4
        assert len({json.loads(m["Body"])["enqueue_id"] for m in messages}) == 1  # one fencing token
        assert live(aws) == []

    def test_a_rollback_that_cannot_be_written_answers_an_unsettled_500(
        self, call: Call, aws: Aws, faults: FaultInjector
    ) -> None:
        faults.add("SendMessage", *[UNAVAILABLE] * 4)
        faults.add("PutItem", Pass(), *[DDB_THROTTLED] * 3)  # the create passes; every rollback fails

        response = call(submit())

        assert response["statusCode"] == 500
        problem = body_of(response)
        assert problem["type"] == "/problems/state-unsettled" and problem["retryable"] is True
        item = aws.item(problem["job_id"])
        assert item is not None and item["status"]["S"] == "QUEUED" and "unconfirmed_since" in item
        assert live(aws) == []


class TestAnswersComeBeforeTheDeadline:
    def test_a_queue_that_never_answers_gets_a_503_before_the_lambda_deadline(
        self, aws: Aws, blackhole: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", blackhole)  # boto3's own per-service endpoint setting
        container = Container()
        container.settings.override(
            providers.Object(
                settings_for(
                    aws,
                    send_max_attempts=50,
                    sqs_connect_timeout_s=0.2,
                    sqs_read_timeout_s=0.3,
                    dynamodb_connect_timeout_s=0.2,
                    dynamodb_read_timeout_s=0.3,
                    deadline_margin_ms=800,
                )
            )
        )
        context = LocalContext(2_500)

        response = container.jobs_api()(submit(), context)

        assert response["statusCode"] == 503
        assert context.get_remaining_time_in_millis() > 0
        assert status_of(aws, body_of(response)["job_id"]) == "PENDING"


class TestIdempotencyKey:
    KEY: ClassVar[dict[str, str]] = {"Idempotency-Key": "order-7781"}

    def test_a_replay_returns_the_first_answer_and_sends_nothing(
        self, call: Call, aws: Aws, faults: FaultInjector
    ) -> None:
        first = call(submit(headers=self.KEY))
        again = call(submit(headers=self.KEY))

        assert first["statusCode"] == again["statusCode"] == 202
        assert body_of(first)["job_id"] == body_of(again)["job_id"]
        assert faults.calls["SendMessage"] == 1
        assert len(aws.items()) == 1 and len(aws.messages()) == 1

    def test_the_same_key_with_another_body_is_422(self, call: Call, aws: Aws) -> None:
        call(submit({"size": 1}, headers=self.KEY))

        response = call(submit({"size": 2}, headers=self.KEY))

        assert response["statusCode"] == 422
        assert len(aws.messages()) == 1

    def test_a_retry_after_a_503_is_accepted_on_the_same_job(self, call: Call, aws: Aws, faults: FaultInjector) -> None:
        faults.add("SendMessage", *[THROTTLED] * 4)
        first = call(submit(headers=self.KEY))
        assert first["statusCode"] == 503

        retry = call(submit(headers=self.KEY))

        assert retry["statusCode"] == 202
        assert body_of(retry)["job_id"] == body_of(first)["job_id"]
        assert len(aws.items()) == 1
        assert [m["job_id"] for m in live(aws)] == [body_of(first)["job_id"]]

    def test_a_request_while_the_first_is_unsettled_and_in_its_lease_is_409(
        self, call: Call, faults: FaultInjector
    ) -> None:
        faults.add("SendMessage", *[UNAVAILABLE] * 4)
        faults.add("PutItem", Pass(), *[DDB_THROTTLED] * 3)
        assert call(submit(headers=self.KEY))["statusCode"] == 500

        response = call(submit(headers=self.KEY))

        assert response["statusCode"] == 409
        assert response["headers"]["Retry-After"] == "1"


def test_a_job_that_could_not_be_recorded_is_not_named_in_the_problem(
    call: Call, aws: Aws, faults: FaultInjector
) -> None:
    faults.add("PutItem", *[DDB_THROTTLED] * 3)

    response = call(submit())

    assert response["statusCode"] == 503
    assert "job_id" not in body_of(response)
    assert aws.items() == [] and aws.messages() == []


class TestReadingAJobWhenTheStoreFails:
    """GET /jobs/{id} on a table that does not answer: the truth, and
    whether to come back."""

    def test_a_throttled_read_is_a_503_that_says_when_to_retry(self, call: Call, faults: FaultInjector) -> None:
        faults.add("GetItem", *[DDB_THROTTLED] * 3)

        response = call(event("GET", "/jobs/job-1", request_id="read-1"))

        assert response["statusCode"] == 503
        assert response["headers"]["Retry-After"] == "1"
        assert response["headers"]["X-Correlation-Id"] == "read-1"
        problem = body_of(response)
        assert problem["type"].endswith("/store-unavailable") and problem["title"] == "Job store unavailable"
        assert (problem["retryable"], problem["job_id"]) == (True, "job-1")
        assert "ProvisionedThroughputExceededException" in problem["detail"]

    def test_a_read_refused_for_good_is_a_500_without_retry_after(self, call: Call, faults: FaultInjector) -> None:
        faults.add("GetItem", AwsError(400, "AccessDeniedException"))

        response = call(event("GET", "/jobs/job-1"))

        assert response["statusCode"] == 500
        assert "Retry-After" not in response["headers"]
        assert body_of(response)["retryable"] is False

    def test_a_missing_job_is_404_with_the_correlation_id(self, call: Call) -> None:
        response = call(event("GET", "/jobs/job-1", request_id="read-2"))

        assert response["statusCode"] == 404
        assert response["headers"]["X-Correlation-Id"] == "read-2"
        problem = body_of(response)
        assert (problem["title"], problem["retryable"], problem["job_id"]) == ("Not found", False, "job-1")
