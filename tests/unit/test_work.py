from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from domain.budget import CLOCK_SKEW
from domain.failures import FailureKind, LastError
from domain.job import Job, JobStatus
from domain.work import IncomingMessage, MalformedMessage, RetryLater, WorkResult
from ports.handlers import PermanentJobError
from ports.repository import StoreFailed
from tests.conftest import Records
from tests.fakes import JobStep, Meanwhile, OnFakes, store_failure, submitted


class RecordingStep:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.attempts: list[int] = []
        self.error = error

    def __call__(self, job: Job, payload: dict[str, Any]) -> None:
        self.calls.append(job.job_id)
        self.attempts.append(job.claims)
        if self.error:
            raise self.error


class Worker:
    def __init__(
        self, recorder: RecordingStep | None = None, step: JobStep | None = None, max_attempts: int = 3
    ) -> None:
        fakes = OnFakes()
        self.clock, self.jobs, self.metrics, self.bus = fakes.clock, fakes.jobs, fakes.metrics, fakes.bus
        self.step = recorder or RecordingStep()
        self.process = fakes.worker(step or self.step, max_attempts=max_attempts)

    def queued(self, job_id: str = "j", enqueue_id: str = "e1") -> Job:
        now = self.clock.now()
        job = submitted(job_id, now).queued(enqueue_id=enqueue_id, correlation_id="c", at=now, lease_until=now)
        self.jobs.jobs[job_id] = job
        return job

    def deliver(self, job_id: str = "j", enqueue_id: str = "e1") -> WorkResult | RetryLater:
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


def test_a_claim_lost_to_another_workers_live_claim_leaves_the_message_for_later(worker: Worker) -> None:
    job = worker.queued()
    theirs = job.processing(claim_id="claim-x", at=job.updated_at, until=job.updated_at + timedelta(minutes=1))
    worker.jobs.fail("save", Meanwhile(lambda: worker.jobs.jobs.__setitem__("j", theirs)))

    result = worker.deliver()

    assert result is WorkResult.BUSY and not result.acknowledge
    assert worker.step.calls == [] and worker.jobs.jobs["j"] == theirs


def test_a_delivery_after_the_claim_expired_takes_it_over_with_the_next_attempt_number(
    worker: Worker, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.worker")
    job = worker.queued()
    dead = job.processing(claim_id="claim-x", at=job.updated_at, until=job.updated_at + timedelta(seconds=35))
    worker.jobs.jobs["j"] = dead
    assert worker.deliver() is WorkResult.BUSY  # the claim still runs
    worker.clock.advance(36)

    assert worker.deliver() is WorkResult.PROCESSED
    assert worker.step.attempts == [2]
    assert worker.jobs.jobs["j"].status is JobStatus.SUCCEEDED
    assert log.of("job_id", "enqueue_id", "claims")[0] == (
        "WARNING",
        "expired claim taken over",
        {"job_id": "j", "enqueue_id": "e1", "claims": 1},
    )


def test_after_max_attempts_the_job_fails_and_the_message_is_acknowledged(worker: Worker) -> None:
    job = worker.queued()
    for n in range(3):
        job = job.processing(claim_id=f"claim-{n}", at=job.updated_at, until=job.updated_at)
    worker.jobs.jobs["j"] = job

    result = worker.deliver()

    assert result is WorkResult.EXHAUSTED and result.acknowledge
    assert worker.metrics.counts["ClaimsExhausted"] == 1
    assert worker.metrics.by_type[("JobsFailed", "t")] == 1
    failed = worker.jobs.jobs["j"]
    assert failed.status is JobStatus.FAILED and worker.step.calls == []
    now = worker.clock.now()
    assert failed.last_error == LastError(
        "ClaimsExhausted", FailureKind.PROCESSING, "claimed 3 times and never finished; the last worker stopped", now
    )
    assert failed.updated_at == now


def test_a_completion_lost_to_a_takeover_leaves_the_message_to_whoever_holds_the_job(
    worker: Worker, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.worker")
    worker.queued()

    def taken_over(job: Job, payload: dict[str, Any]) -> None:
        later = job.processing(claim_id="claim-y", at=job.updated_at, until=job.updated_at + timedelta(minutes=5))
        worker.jobs.jobs["j"] = later

    slow = Worker(RecordingStep(), step=taken_over)
    slow.jobs.jobs = worker.jobs.jobs
    assert slow.deliver() is WorkResult.BUSY
    assert worker.jobs.jobs["j"].claim_id == "claim-y"
    assert (
        "ERROR",
        "job moved while being processed",
        {"job_id": "j", "enqueue_id": "e1", "claims": 1, "found": "PROCESSING"},
    ) in log.of("job_id", "enqueue_id", "claims", "found")


def test_a_completion_that_finds_the_job_gone_calls_the_message_stale(
    worker: Worker, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.worker")

    def deleted(job: Job, payload: dict[str, Any]) -> None:  # by an operator: in-flight jobs never expire
        del vanishing.jobs.jobs["j"]

    vanishing = Worker(step=deleted)
    vanishing.queued()
    assert vanishing.deliver() is WorkResult.STALE
    assert (
        "ERROR",
        "job moved while being processed",
        {"job_id": "j", "found": None},
    ) in log.of("job_id", "found")


def test_a_completion_that_finds_the_job_final_acknowledges(worker: Worker) -> None:
    worker.queued()

    def finished_by_another(job: Job, payload: dict[str, Any]) -> None:
        error = LastError("ClaimExpired", FailureKind.PROCESSING, "settled by the reconciler", job.updated_at)
        worker.jobs.jobs["j"] = job.failed(error=error, at=job.updated_at)

    finishing = Worker(RecordingStep(), step=finished_by_another)
    finishing.jobs.jobs = worker.jobs.jobs
    assert finishing.deliver() is WorkResult.DUPLICATE


def test_a_failing_step_on_its_last_attempt_marks_the_job_failed_with_its_error() -> None:
    worker = Worker(RecordingStep(RuntimeError("disk full")), max_attempts=1)
    worker.queued()

    assert worker.deliver() is WorkResult.PROCESSED
    job = worker.jobs.jobs["j"]
    assert job.status is JobStatus.FAILED
    assert job.last_error is not None and (job.last_error.code, job.last_error.kind) == (
        "RuntimeError",
        FailureKind.PROCESSING,
    )


def test_a_failing_step_is_logged_with_the_job_and_the_traceback(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.worker")
    worker = Worker(RecordingStep(RuntimeError("disk full")))
    worker.queued()

    worker.deliver()

    [record] = [r for r in log.records if r.getMessage() == "handler failed"]
    assert (record.levelname, record.job_id, record.enqueue_id, record.claims) == ("ERROR", "j", "e1", 1)  # type: ignore[attr-defined]
    assert (record.code, record.retryable) == ("RuntimeError", True)  # type: ignore[attr-defined]
    assert record.exc_info is not None and str(record.exc_info[1]) == "disk full"


def test_a_job_that_keeps_moving_under_every_claim_is_left_for_a_later_delivery(
    worker: Worker, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.worker")
    worker.queued()

    def moved() -> None:  # someone else's write that leaves the message live
        job = worker.jobs.jobs["j"]
        worker.jobs.jobs["j"] = attrs.evolve(job, version=job.version + 1)

    worker.jobs.fail("save", *[Meanwhile(moved)] * 3)

    assert worker.deliver() is WorkResult.BUSY
    assert worker.step.calls == []
    assert log.of("job_id")[-1] == ("WARNING", "job kept moving; message left for a later delivery", {"job_id": "j"})
    assert worker.metrics.counts["MessagesSkipped"] == 1


def test_a_completion_retries_only_while_its_write_can_end_before_the_answer_reserve() -> None:
    def slow(job: Job, payload: dict[str, Any]) -> None:
        late.clock.advance(30 - 1.65)  # the completion's first 1.5 s attempt still ends 150 ms before the end

    def slow_then_throttled() -> None:
        # 1.55 s before the end: a retry's 1.5 s write would end 50 ms in
        # (plus its backoff), past the 100 ms kept to answer.
        late.clock.advance(0.1)
        raise store_failure(FailureKind.THROTTLED)

    late = Worker(step=slow)
    late.queued()
    late.jobs.fail("save", None, Meanwhile(slow_then_throttled))  # the claim goes through

    with pytest.raises(StoreFailed):
        late.deliver()
    assert late.jobs.calls["save"] == 2


def test_a_store_that_cannot_answer_asks_for_the_message_again(worker: Worker) -> None:
    worker.queued()
    worker.jobs.fail("get", *[store_failure(FailureKind.THROTTLED)] * 3)

    with pytest.raises(StoreFailed):
        worker.deliver()
    assert worker.deliver() is WorkResult.PROCESSED


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "JSONDecodeError"),
        ("not json", "JSONDecodeError"),
        ("[]", "TypeError"),
        ('{"job_id": "j"}', "KeyError"),
        ('{"job_id": 1, "enqueue_id": "e", "payload": {}, "correlation_id": "c"}', "ids must be strings"),
        # Not one this service sent (its payloads are shallow): one record, not the batch.
        ('{"job_id": "j", "payload": ' + "[" * 100_000 + "]" * 100_000 + "}", "RecursionError"),
    ],
    ids=["empty", "not json", "array", "missing fields", "numeric id", "nested past the recursion limit"],
)
def test_a_body_that_is_not_a_job_message_is_refused_saying_why(body: str, why: str) -> None:
    with pytest.raises(MalformedMessage) as caught:
        IncomingMessage.parse(body)
    assert str(caught.value) == f"not a job message: {why}"


def test_a_job_message_is_read_whole() -> None:
    body = '{"job_id": "j", "enqueue_id": "e", "payload": {"n": [1]}, "correlation_id": "c", "submitted_at": "t"}'

    assert IncomingMessage.parse(body) == IncomingMessage("j", "e", {"n": [1]}, "c")


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


def test_a_claim_lost_to_the_producers_confirmation_claims_again_and_never_acknowledges_a_live_message(
    worker: Worker,
) -> None:
    """The review's lost job: the worker read the job QUEUED and unconfirmed;
    the producer's confirmation lands before the claim; the failed claim
    shows the job still QUEUED with this message's enqueue_id."""
    job = worker.queued()
    confirmed = job.sent(attempts=1, at=job.updated_at)
    worker.jobs.fail("save", Meanwhile(lambda: worker.jobs.jobs.__setitem__("j", confirmed)))

    assert worker.deliver() is WorkResult.PROCESSED
    assert worker.step.calls == ["j"]
    assert worker.jobs.jobs["j"].status is JobStatus.SUCCEEDED


@pytest.mark.parametrize("read_s", [7.0, 7.5])
def test_no_claim_is_made_within_the_margin_kept_for_the_completion(worker: Worker, read_s: float) -> None:
    """A 10 s invocation, a read that takes 7 s or more: the 3 s margin is
    left, too little to run the step and write it, so no claim is made and
    the message is left for a later delivery."""
    job = worker.queued()
    worker.jobs.fail("get", Meanwhile(lambda: worker.clock.advance(read_s)))
    message = IncomingMessage(job_id="j", enqueue_id="e1", payload={}, correlation_id="c")

    result = worker.process(message, worker.clock.now() + timedelta(seconds=10))

    assert result is WorkResult.BUSY
    assert worker.jobs.jobs["j"] == job and worker.step.calls == []
    assert worker.metrics.counts["MessagesSkipped"] == 1


def test_with_time_left_beyond_the_margin_the_claim_is_made(worker: Worker) -> None:
    worker.queued()
    worker.jobs.fail("get", Meanwhile(lambda: worker.clock.advance(5)))
    message = IncomingMessage(job_id="j", enqueue_id="e1", payload={}, correlation_id="c")

    assert worker.process(message, worker.clock.now() + timedelta(seconds=10)) is WorkResult.PROCESSED
    assert worker.metrics.counts["JobsProcessed"] == 1


def test_exhausting_the_claims_is_logged_as_an_error_with_the_job(
    worker: Worker, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.worker")
    job = worker.queued()
    for n in range(3):
        job = job.processing(claim_id=f"claim-{n}", at=job.updated_at, until=job.updated_at)
    worker.jobs.jobs["j"] = job

    worker.deliver()

    assert ("ERROR", "claims exhausted; job FAILED", {"job_id": "j", "enqueue_id": "e1", "claims": 3}) in log.of(
        "job_id", "enqueue_id", "claims"
    )


class TestTheStepExactly:
    """What the step is handed, the claim it runs under, and the job it
    leaves, to the field."""

    def test_a_step_gets_the_messages_payload_under_a_lease_to_the_invocations_end_and_its_skew(self) -> None:
        seen: list[tuple[Job, dict[str, Any]]] = []
        worker = Worker(step=lambda job, payload: seen.append((job, payload)))
        queued = worker.queued()
        start = worker.clock.now()

        assert worker.deliver() is WorkResult.PROCESSED

        [(claimed, payload)] = seen
        assert payload == {"n": 1}
        assert claimed == queued.processing(
            claim_id="claim-0001", at=start, until=start + timedelta(seconds=30) + CLOCK_SKEW
        )
        # Succeeded, and its completion event on the bus.
        assert worker.jobs.jobs["j"] == claimed.succeeded(at=start).announced()
        assert worker.metrics.counts["JobsProcessed"] == 1

    def test_a_failing_step_leaves_the_job_failed_with_its_own_words_cut_short(self) -> None:
        worker = Worker(RecordingStep(PermanentJobError("x" * 600, code="Refused")), max_attempts=1)
        worker.queued()
        start = worker.clock.now()

        worker.deliver()

        failed = worker.jobs.jobs["j"]
        assert failed.status is JobStatus.FAILED and failed.updated_at == start
        assert failed.last_error == LastError("Refused", FailureKind.PROCESSING, "x" * 500, start)

    def test_an_unexpected_exceptions_text_stays_in_the_log_and_the_job_names_its_class(
        self, log_of: Callable[[str], Records]
    ) -> None:
        log = log_of("jobs.worker")
        wording = "User: arn:aws:sts::123456789012:assumed-role/worker/fn is not authorized to perform: s3:PutObject"
        worker = Worker(RecordingStep(PermissionError(wording)), max_attempts=1)
        worker.queued()

        worker.deliver()

        error = worker.jobs.jobs["j"].last_error
        assert error is not None and error.code == "PermissionError"
        assert error.message == "the handler raised PermissionError; see the worker's log"
        [failed] = [r for r in log.records if r.getMessage() == "handler failed"]
        assert failed.exc_info is not None and str(failed.exc_info[1]) == wording

    def test_a_stale_message_is_counted_as_skipped(self, worker: Worker) -> None:
        worker.queued(enqueue_id="e2")

        assert worker.deliver(enqueue_id="e1") is WorkResult.STALE
        assert worker.metrics.counts["MessagesSkipped"] == 1
