from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.failures import FailureKind, StoreFailed
from domain.job import Job, JobStatus
from domain.work import IncomingMessage, MalformedMessage, WorkResult
from tests.fakes import Meanwhile, OnFakes, store_failure


class RecordingStep:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.error = error

    def __call__(self, job: Job, payload: dict[str, Any]) -> None:
        self.calls.append(job.job_id)
        if self.error:
            raise self.error


class Worker:
    def __init__(self, step: RecordingStep | None = None) -> None:
        fakes = OnFakes()
        self.clock, self.jobs = fakes.clock, fakes.jobs
        self.step = step or RecordingStep()
        self.process = fakes.worker(self.step)

    def queued(self, job_id: str = "j", enqueue_id: str = "e1") -> Job:
        now = self.clock.now()
        job = Job.submitted(
            job_id=job_id, job_type="t", request_hash="h", correlation_id="c", idempotency_key=None, at=now
        ).queued(enqueue_id=enqueue_id, correlation_id="c", at=now, lease_until=now)
        self.jobs.jobs[job_id] = job
        return job

    def deliver(self, job_id: str = "j", enqueue_id: str = "e1") -> WorkResult:
        message = IncomingMessage(job_id=job_id, enqueue_id=enqueue_id, payload={"n": 1}, correlation_id="c")
        return self.process(message, self.clock.now() + timedelta(seconds=30))


@pytest.fixture
def worker() -> Worker:
    return Worker()


def test_a_live_message_is_processed_once(worker: Worker) -> None:
    worker.queued()
    assert worker.deliver() is WorkResult.PROCESSED
    assert worker.jobs.jobs["j"].status is JobStatus.SUCCEEDED
    assert worker.step.calls == ["j"]


def test_a_redelivery_of_a_processed_message_is_a_duplicate_and_changes_nothing(worker: Worker) -> None:
    worker.queued()
    worker.deliver()
    before = worker.jobs.jobs["j"]

    assert worker.deliver() is WorkResult.DUPLICATE
    assert worker.jobs.jobs["j"] == before and worker.step.calls == ["j"]


@pytest.mark.parametrize("case", ["other episode", "rolled back", "no such job"])
def test_a_stale_message_is_acknowledged_without_side_effects(worker: Worker, case: str) -> None:
    job = worker.queued(enqueue_id="e2")
    if case == "rolled back":
        from domain.failures import LastError

        error = LastError("x", FailureKind.THROTTLED, "x", worker.clock.now())
        worker.jobs.jobs["j"] = job = job.rolled_back(error=error, attempts=1, at=worker.clock.now())
    job_id = "missing" if case == "no such job" else "j"

    assert worker.deliver(job_id, "e1") is WorkResult.STALE
    assert worker.jobs.jobs["j"] == job and worker.step.calls == []


def test_a_claim_lost_to_another_worker_is_a_duplicate(worker: Worker) -> None:
    job = worker.queued()
    worker.jobs.fail(
        "save",
        Meanwhile(lambda: worker.jobs.jobs.__setitem__("j", job.processing(claim_id="claim-x", at=job.updated_at))),
    )

    assert worker.deliver() is WorkResult.DUPLICATE
    assert worker.step.calls == []


def test_a_failing_step_marks_the_job_failed_with_its_error() -> None:
    worker = Worker(RecordingStep(RuntimeError("disk full")))
    worker.queued()

    assert worker.deliver() is WorkResult.PROCESSED
    job = worker.jobs.jobs["j"]
    assert job.status is JobStatus.FAILED
    assert job.last_error is not None and (job.last_error.code, job.last_error.kind) == (
        "RuntimeError",
        FailureKind.PROCESSING,
    )


def test_a_store_that_cannot_answer_asks_for_the_message_again(worker: Worker) -> None:
    worker.queued()
    worker.jobs.fail("get", store_failure(FailureKind.THROTTLED))

    with pytest.raises(StoreFailed):
        worker.deliver()
    assert worker.deliver() is WorkResult.PROCESSED


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[]", '{"job_id": "j"}', '{"job_id": 1, "enqueue_id": "e", "payload": {}, "correlation_id": "c"}'],
)
def test_a_body_that_is_not_a_job_message_is_refused(body: str) -> None:
    with pytest.raises(MalformedMessage):
        IncomingMessage.parse(body)


def test_its_own_ambiguous_claim_that_landed_is_recognised_and_processed(worker: Worker) -> None:
    from tests.fakes import Lost

    worker.queued()
    worker.jobs.fail("save", Lost(store_failure(FailureKind.AMBIGUOUS)))

    assert worker.deliver() is WorkResult.PROCESSED
    assert worker.step.calls == ["j"]
    assert worker.jobs.jobs["j"].status is JobStatus.SUCCEEDED


def test_its_own_completion_that_landed_unseen_is_recognised(worker: Worker) -> None:
    from tests.fakes import Lost

    worker.queued()
    worker.jobs.fail("save", None, Lost(store_failure(FailureKind.AMBIGUOUS)))  # the claim passes

    assert worker.deliver() is WorkResult.PROCESSED
    assert worker.jobs.jobs["j"].status is JobStatus.SUCCEEDED
    assert worker.step.calls == ["j"]
