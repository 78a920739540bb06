"""The worker runs the handler of each job's type: its result stored, its
failures retried through the message's visibility or failed at once, and
every final state announced."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from domain.failures import FailureKind, LastError
from domain.job import Job, JobStatus, Watch
from domain.nesting import MAX_NESTING
from domain.work import IncomingMessage, RetryLater, WorkResult
from ports.handlers import HandlerRegistry, JobContext, PermanentJobError, RetryableJobError
from tests.conftest import Records
from tests.fakes import EPOCH, OnFakes, submitted


class Deployment:
    """A worker on fakes running ``registry``; jobs of any type on demand."""

    def __init__(self, registry: HandlerRegistry, **settings: Any) -> None:
        self.fakes = OnFakes()
        self.jobs, self.clock, self.bus, self.metrics = (
            self.fakes.jobs,
            self.fakes.clock,
            self.fakes.bus,
            self.fakes.metrics,
        )
        self.work = self.fakes.worker(registry, **settings)

    def queued(self, job_type: str, job_id: str = "j") -> Job:
        now = self.clock.now()
        job = submitted(job_id, now).queued(enqueue_id="e1", correlation_id="c", at=now, lease_until=now)
        job = job.sent(attempts=1, at=now)
        self.jobs.jobs[job_id] = job = attrs.evolve(job, job_type=job_type)
        return job

    def deliver(self, payload: dict[str, Any] | None = None, job_id: str = "j") -> WorkResult | RetryLater:
        message = IncomingMessage(job_id, "e1", payload if payload is not None else {"n": 1}, "c")
        return self.work(message, self.clock.now() + timedelta(seconds=30))

    @property
    def job(self) -> Job:
        return self.jobs.jobs["j"]


def registry_of(**handlers: Callable[[dict[str, Any], JobContext], Any]) -> HandlerRegistry:
    registry = HandlerRegistry()
    for job_type, handler in handlers.items():
        registry.add(job_type, handler)
    return registry


def test_a_handler_gets_the_payload_and_its_context_and_its_result_is_stored() -> None:
    seen: list[tuple[dict[str, Any], JobContext]] = []

    def echo(payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
        seen.append((payload, context))
        return {"got": payload}

    deployment = Deployment(registry_of(echo=echo), max_result_bytes=1000)
    deployment.queued("echo")

    assert deployment.deliver({"n": 1}) is WorkResult.PROCESSED

    [(payload, context)] = seen
    assert payload == {"n": 1}
    assert (context.job_id, context.job_type, context.owner, context.correlation_id) == ("j", "echo", "owner-1", "c")
    assert (context.attempt, context.max_attempts, context.max_result_bytes) == (1, 3, 1000)
    # The handler must be done by the invocation's end less the margin kept for the result's write.
    assert context.deadline == EPOCH + timedelta(seconds=27)
    assert context.time_left() == timedelta(seconds=27)
    job = deployment.job
    assert (job.status, json.loads(job.result or "")) == (JobStatus.SUCCEEDED, {"got": {"n": 1}})
    assert deployment.metrics.by_type[("JobsSucceeded", "echo")] == 1


def test_a_handler_that_returns_nothing_stores_no_result() -> None:
    deployment = Deployment(registry_of(quiet=lambda payload, context: None))
    deployment.queued("quiet")

    deployment.deliver()

    assert (deployment.job.status, deployment.job.result) == (JobStatus.SUCCEEDED, None)


def test_the_handlers_logger_names_the_job_and_keeps_the_handlers_fields(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.handler")

    def chatty(payload: dict[str, Any], context: JobContext) -> None:
        context.logger.info("working", extra={"step": "resize"})

    deployment = Deployment(registry_of(chatty=chatty))
    deployment.queued("chatty")
    deployment.deliver()

    assert log.of("job_id", "job_type", "attempt", "step") == [
        ("INFO", "working", {"job_id": "j", "job_type": "chatty", "attempt": 1, "step": "resize"})
    ]


def test_a_type_no_handler_knows_fails_at_once_saying_so(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.worker")
    deployment = Deployment(registry_of())
    deployment.queued("resize")

    assert deployment.deliver() is WorkResult.PROCESSED

    assert ("ERROR", "no handler for the job's type", {"job_id": "j", "job_type": "resize"}) in log.of(
        "job_id", "job_type"
    )

    assert deployment.job.status is JobStatus.FAILED
    assert deployment.job.last_error == LastError(
        "UnknownJobType", FailureKind.PROCESSING, "no handler knows the job type 'resize'", deployment.clock.now()
    )


def test_a_permanent_failure_fails_the_job_at_once_with_its_code() -> None:
    def refuse(payload: dict[str, Any], context: JobContext) -> None:
        raise PermanentJobError("width must be positive", code="BadWidth")

    deployment = Deployment(registry_of(resize=refuse))
    deployment.queued("resize")

    assert deployment.deliver() is WorkResult.PROCESSED

    error = deployment.job.last_error
    assert deployment.job.status is JobStatus.FAILED and deployment.job.claims == 1
    assert error is not None and (error.code, error.message) == ("BadWidth", "width must be positive")
    assert deployment.metrics.by_type[("StepFailures", "resize")] == 1
    assert deployment.metrics.by_type[("JobsFailed", "resize")] == 1


@pytest.mark.parametrize("failure", [RetryableJobError("try later"), ConnectionError("reset"), KeyError("x")])
def test_a_retryable_or_unexpected_failure_is_retried_after_a_backoff(
    failure: Exception, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.worker")

    def fail(payload: dict[str, Any], context: JobContext) -> None:
        raise failure

    deployment = Deployment(
        registry_of(resize=fail), retry_base_delay=timedelta(seconds=4), retry_max_delay=timedelta(seconds=100)
    )
    deployment.queued("resize")

    result = deployment.deliver()

    assert isinstance(result, RetryLater) and not result.acknowledge
    assert 2 <= result.delay_s <= 4  # between half and all of the first ceiling
    job = deployment.job
    # QUEUED again under the same episode: its message, still in the queue, is live.
    assert (job.status, job.enqueue_id, job.claims, job.claim_id) == (JobStatus.QUEUED, "e1", 1, None)
    assert job.updated_at == deployment.clock.now()
    assert deployment.metrics.by_type[("JobRetries", "resize")] == 1
    assert ("WARNING", "job will be retried", {"job_id": "j", "delay_s": result.delay_s}) in log.of("job_id", "delay_s")
    assert job.last_error is not None and job.last_error.code == type(failure).__name__
    assert deployment.bus.events == []  # not final: nothing to announce


def test_a_success_after_a_retry_is_announced_without_the_retrys_error() -> None:
    attempts: list[int] = []

    def once_flaky(payload: dict[str, Any], context: JobContext) -> None:
        attempts.append(context.attempt)
        if len(attempts) == 1:
            raise RetryableJobError("down")

    deployment = Deployment(registry_of(resize=once_flaky))
    deployment.queued("resize")

    assert isinstance(deployment.deliver(), RetryLater)
    assert deployment.deliver() is WorkResult.PROCESSED

    [event] = deployment.bus.events
    assert (event.status, event.result, event.error) == ("SUCCEEDED", None, None)


def test_a_job_claimed_before_its_confirmation_and_retried_is_watched_from_its_claim() -> None:
    deployment = Deployment(registry_of(resize=lambda payload, context: _raise(RetryableJobError("down"))))
    now = deployment.clock.now()
    unconfirmed = submitted("j", now).queued(enqueue_id="e1", correlation_id="c", at=now, lease_until=now)
    deployment.jobs.jobs["j"] = attrs.evolve(unconfirmed, job_type="resize")
    deployment.clock.advance(1)

    assert isinstance(deployment.deliver(), RetryLater)

    # Without a time to count from, the reconciler's index never holds the
    # job, and a message lost after the retry leaves it QUEUED for ever.
    job = deployment.job
    assert (job.status, job.watch, job.watched_since) == (JobStatus.QUEUED, Watch.DELIVERY, now + timedelta(seconds=1))


def test_a_claim_before_the_producers_last_send_dates_the_watch_from_the_producers_lease() -> None:
    """An ambiguous send is repeated under the same episode: a duplicate
    may be sent after the claim, up to the producer's lease, and lives its
    whole retention from then."""
    deployment = Deployment(registry_of(resize=lambda payload, context: _raise(RetryableJobError("down"))))
    now = deployment.clock.now()
    lease_until = now + timedelta(seconds=25)
    unconfirmed = submitted("j", now).queued(enqueue_id="e1", correlation_id="c", at=now, lease_until=lease_until)
    deployment.jobs.jobs["j"] = attrs.evolve(unconfirmed, job_type="resize")
    deployment.clock.advance(1)

    assert isinstance(deployment.deliver(), RetryLater)

    assert deployment.job.watched_since == lease_until


def _raise(error: Exception) -> None:
    raise error


def test_retries_back_off_exponentially_to_the_cap_then_the_last_attempt_fails_the_job() -> None:
    attempts: list[int] = []

    def flaky(payload: dict[str, Any], context: JobContext) -> None:
        attempts.append(context.attempt)
        raise RetryableJobError("down")

    deployment = Deployment(
        registry_of(resize=flaky),
        max_attempts=6,
        retry_base_delay=timedelta(seconds=10),
        retry_max_delay=timedelta(seconds=100),
    )
    deployment.queued("resize")

    delays = [deployment.deliver() for _ in range(5)]
    last = deployment.deliver()

    assert attempts == [1, 2, 3, 4, 5, 6]
    assert [type(d) for d in delays] == [RetryLater] * 5
    ceilings = [10, 20, 40, 80, 100]
    assert all(c / 2 <= d.delay_s <= c for d, c in zip(delays, ceilings, strict=True))  # type: ignore[union-attr]
    assert last is WorkResult.PROCESSED and deployment.job.status is JobStatus.FAILED


def test_a_result_too_big_to_store_fails_the_job_and_the_handler_hears_why(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.handler")
    deployment = Deployment(registry_of(big=lambda payload, context: "x" * 200), max_result_bytes=100)
    deployment.queued("big")

    deployment.deliver()

    error = deployment.job.last_error
    assert deployment.job.status is JobStatus.FAILED and deployment.job.result is None
    assert error is not None and error.code == "ResultTooLarge"
    assert error.message == (
        "the result is 202 bytes of JSON; at most 100: store it elsewhere (S3) and return a reference"
    )
    assert ("ERROR", "result refused", {"job_id": "j", "code": "ResultTooLarge", "reason": error.message}) in log.of(
        "job_id", "code", "reason"
    )


def test_a_result_is_stored_as_compact_utf8_json_up_to_the_limit_exactly() -> None:
    result = ["café", 1]
    limit = len('["café",1]'.encode())
    deployment = Deployment(registry_of(fit=lambda payload, context: result), max_result_bytes=limit)
    deployment.queued("fit")

    deployment.deliver()

    assert (deployment.job.status, deployment.job.result) == (JobStatus.SUCCEEDED, '["café",1]')


def test_why_a_result_is_not_json_is_kept_short() -> None:
    unstorable = type("Unstorable" * 30, (), {})()
    deployment = Deployment(registry_of(odd=lambda payload, context: unstorable))
    deployment.queued("odd")

    deployment.deliver()

    said = f"Object of type {'Unstorable' * 30} is not JSON serializable"
    assert deployment.job.last_error is not None
    assert deployment.job.last_error.message == f"the result is not JSON: TypeError: {said[:200]}"


# "\udcff": a lone surrogate (os.fsdecode of a name that is not UTF-8) dumps, then cannot be stored.
@pytest.mark.parametrize("result", [{1, 2}, float("nan"), object(), {"name": "\udcff"}])
def test_a_result_that_is_not_json_fails_the_job(result: Any) -> None:
    deployment = Deployment(registry_of(odd=lambda payload, context: result))
    deployment.queued("odd")

    deployment.deliver()

    error = deployment.job.last_error
    assert deployment.job.status is JobStatus.FAILED
    assert error is not None and error.code == "ResultNotJson"


@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 5000])
def test_a_result_nested_past_the_limit_fails_the_job_not_the_batch(levels: int) -> None:
    """Past the recursion limit json.dumps fails; below it GET and the
    event would fail later, decoding and encoding it again deeper."""
    deep: Any = []
    for _ in range(levels - 1):
        deep = [deep]
    deployment = Deployment(registry_of(deep=lambda payload, context: deep))
    deployment.queued("deep")

    assert deployment.deliver() is WorkResult.PROCESSED
    error = deployment.job.last_error
    assert error is not None and (error.code, error.message) == (
        "ResultTooDeep",
        f"the result nests objects and arrays deeper than {MAX_NESTING} levels",
    )


def test_a_result_nested_to_the_limit_is_stored() -> None:
    deep: Any = []
    for _ in range(MAX_NESTING - 1):
        deep = [deep]
    deployment = Deployment(registry_of(deep=lambda payload, context: deep))
    deployment.queued("deep")

    deployment.deliver()

    assert deployment.job.status is JobStatus.SUCCEEDED


def test_time_left_never_goes_negative() -> None:
    contexts: list[JobContext] = []
    deployment = Deployment(registry_of(t=lambda payload, context: contexts.append(context)))
    deployment.queued("t")
    deployment.deliver()

    deployment.clock.advance(600)

    assert contexts[0].time_left() == timedelta(0)


def test_a_registry_refuses_a_second_handler_for_a_type() -> None:
    registry = HandlerRegistry()
    registry.add("echo", lambda payload, context: payload)
    with pytest.raises(ValueError, match="already has a handler"):
        registry.add("echo", lambda payload, context: None)
    assert list(registry) == ["echo"] and registry.knows("echo") and not registry.knows("other")
