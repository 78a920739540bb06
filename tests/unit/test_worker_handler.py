"""The worker handler's batch rules, on a stand-in for the use case."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.failures import FailureKind
from domain.work import IncomingMessage, RetryLater, WorkResult
from entrypoints.batch_worker import SqsBatchWorker
from entrypoints.lambda_context import LocalContext
from ports.repository import StoreFailed
from tests.fakes import FakeClock, FakeMetrics, FakeVisibility


class Scripted:
    """Answers each job id as told: a result, or an exception to raise."""

    def __init__(self, answers: dict[str, WorkResult | RetryLater | Exception]) -> None:
        self.answers = answers

    def __call__(self, message: IncomingMessage, deadline: datetime) -> WorkResult | RetryLater:
        answer = self.answers[message.job_id]
        if isinstance(answer, Exception):
            raise answer
        return answer


def record(job_id: str, arn: str = "arn:aws:sqs:us-east-1:123456789012:jobs") -> dict[str, Any]:
    body = {"job_id": job_id, "enqueue_id": "e", "payload": {}, "correlation_id": "c"}
    return {
        "messageId": f"m-{job_id}",
        "receiptHandle": f"rh-{job_id}",
        "body": json.dumps(body),
        "eventSourceARN": arn,
    }


def worker(
    answers: dict[str, WorkResult | RetryLater | Exception], visibility: FakeVisibility | None = None
) -> SqsBatchWorker:
    return SqsBatchWorker(
        process=Scripted(answers),
        postpone=(visibility or FakeVisibility()).postpone,
        clock=FakeClock(),
        metrics=FakeMetrics(),
    )


def test_only_the_records_that_may_succeed_later_come_back() -> None:
    handler = worker(
        {
            "ok": WorkResult.PROCESSED,
            "stale": WorkResult.STALE,
            "store": StoreFailed(FailureKind.THROTTLED, "Throttling", "x"),
            "bug": RuntimeError("unexpected"),
        }
    )
    event = {"Records": [record(j) for j in ("ok", "store", "stale", "bug")]}

    result = handler(event, LocalContext(30_000))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-store"}, {"itemIdentifier": "m-bug"}]}


def test_on_a_fifo_queue_everything_after_a_failure_is_held_back() -> None:
    fifo = "arn:aws:sqs:us-east-1:123456789012:jobs.fifo"
    handler = worker({"a": WorkResult.PROCESSED, "b": RuntimeError("x"), "c": WorkResult.PROCESSED})

    result = handler({"Records": [record(j, fifo) for j in "abc"]}, LocalContext(30_000))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-b"}, {"itemIdentifier": "m-c"}]}


def test_a_retry_comes_back_after_its_backoff_and_the_rest_of_the_batch_is_done() -> None:
    visibility = FakeVisibility()
    handler = worker({"flaky": RetryLater(17), "ok": WorkResult.PROCESSED}, visibility)

    result = handler({"Records": [record("flaky"), record("ok")]}, LocalContext(30_000))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-flaky"}]}
    assert visibility.postponed == [("rh-flaky", 17)]


def test_each_records_lines_say_what_became_of_it_under_its_correlation_id(
    json_log_of: Callable[[str], io.StringIO],
) -> None:
    log = json_log_of("jobs.worker")
    traced = {**record("ok"), "messageAttributes": {"correlation_id": {"stringValue": "corr-ok"}}}
    malformed = {**record("bad"), "body": "not json"}
    handler = worker(
        {
            "ok": WorkResult.PROCESSED,
            "store": StoreFailed(FailureKind.THROTTLED, "ThrottlingException", "x"),
            "bug": RuntimeError("unexpected"),
            "flaky": RetryLater(5),
        }
    )

    handler({"Records": [traced, malformed, record("store"), record("bug"), record("flaky")]}, LocalContext(30_000))

    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    said = {(line["message_id"], line["message"]): line for line in lines}
    ok = said[("m-ok", "message handled")]
    assert (ok["correlation_id"], ok["job_id"], ok["enqueue_id"], ok["result"]) == ("corr-ok", "ok", "e", "processed")
    assert said[("m-bad", "not a job message; left for the dead-letter queue")]["correlation_id"] == "m-bad"
    store = said[("m-store", "job store unavailable; message will come again")]
    assert (store["level"], store["job_id"], store["code"]) == ("WARNING", "store", "ThrottlingException")
    bug = said[("m-bug", "message not handled; it will come again")]
    assert bug["level"] == "ERROR" and bug["job_id"] == "bug" and "RuntimeError: unexpected" in bug["exception"]
    flaky = said[("m-flaky", "message handled")]
    assert (flaky["result"], flaky["delay_s"]) == ("retry", 5)
