"""The worker's retry delay on SQS: a received message's visibility timeout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.sqs_visibility import MAX_DELAY_S, SqsVisibility
from chaos.faults import AwsError, FaultInjector
from tests.conftest import Records
from tests.integration.conftest import Aws


def received(aws: Aws) -> dict[str, Any]:
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="{}")
    [message] = aws.sqs.receive_message(QueueUrl=aws.queue_url, VisibilityTimeout=60)["Messages"]
    return dict(message)


def visible(aws: Aws) -> int:
    return len(aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10).get("Messages", []))


def test_a_message_postponed_by_nothing_comes_back_at_once(aws: Aws) -> None:
    message = received(aws)
    assert visible(aws) == 0

    SqsVisibility(aws.sqs, aws.queue_url).postpone(message["ReceiptHandle"], 0)

    assert visible(aws) == 1


def test_a_postponed_message_stays_away_and_sqss_longest_timeout_is_the_cap(
    aws: Aws, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.worker")
    sent: list[dict[str, Any]] = []
    aws.sqs.meta.events.register(
        "before-parameter-build.sqs.ChangeMessageVisibility", lambda params, **_: sent.append(dict(params))
    )
    first, second = received(aws), received(aws)
    visibility = SqsVisibility(aws.sqs, aws.queue_url)

    visibility.postpone(first["ReceiptHandle"], 0)
    visibility.postpone(second["ReceiptHandle"], MAX_DELAY_S + 1)

    assert [p["VisibilityTimeout"] for p in sent] == [0, MAX_DELAY_S]
    assert all(p["QueueUrl"] == aws.queue_url for p in sent)
    assert [p["ReceiptHandle"] for p in sent] == [first["ReceiptHandle"], second["ReceiptHandle"]]
    assert log.of("error") == []
    assert visible(aws) == 1  # the first, back at once; the second away for twelve hours


def test_a_refused_postponement_is_logged_and_the_batch_goes_on(aws: Aws, log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.worker")
    message = received(aws)
    faults = FaultInjector()
    faults.attach(aws.sqs)
    faults.add("ChangeMessageVisibility", AwsError(400, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"))

    SqsVisibility(aws.sqs, aws.queue_url).postpone(message["ReceiptHandle"], 30)

    [(level, text, fields)] = log.of("error")
    assert (level, text) == ("WARNING", "message not postponed; it comes back after the queue's timeout")
    assert "ReceiptHandleIsInvalid" in str(fields["error"])
