"""The consumer side of the protocol: the reference worker.

A message is live only while its job is QUEUED with the message's
enqueue_id. A live message is claimed (QUEUED -> PROCESSING, conditional on
the version read) and the handler of the job's type run (``ports.handlers``);
the message is acknowledged only once the job no longer needs it: the job
is final, or the message is stale.

What the handler returns is stored as the job's result (SUCCEEDED). A
handler that fails is retried while attempts are left and a retry can
help: the job goes back to QUEUED under the same enqueue_id, its message
stays in the queue, and comes back after a backoff (``RetryLater``: the
consumer sets the message's visibility timeout; nothing sleeps). Every
final state is announced on the event bus (``domain.announce``).

Every failed conditional write asks whose write won and whether this
message is still live: a claim that loses to the producer's confirmation
finds the job still QUEUED with its enqueue_id, and claims again from what
the failed write showed.

Processing is at least once, with the attempt number: a claim holds a lease
until its invocation's end; a worker that dies after its claim leaves the
message undeleted, and the next delivery after the lease takes the claim
over (``Job.claims`` counts them, retries included). After ``max_attempts``
the job is FAILED. Two runs never overlap while each stays inside its
invocation's deadline.
"""

from __future__ import annotations

import enum
import json
import logging
import math
from collections.abc import MutableMapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from domain.announce import Announce
from domain.budget import Budget
from domain.failures import FailureKind, LastError
from domain.job import FINAL, Expected, Job, JobStatus
from domain.nesting import MAX_NESTING, nested_deeper_than
from domain.retry import RandomSource
from domain.store_retrier import StoreRetrier
from ports.handlers import Handlers, JobCancelled, JobContext, JobError
from ports.repository import ConditionFailed, JobRepository, StoreFailed
from ports.runtime import Clock, IdSource, Metrics

# Past 2**32 base delays every cap is reached: the bound only keeps a huge
# attempt count from overflowing the float.
_MAX_DOUBLINGS = 32  # pragma: no mutate
log = logging.getLogger("jobs.worker")
# What handlers log through their context.
handler_log = logging.getLogger("jobs.handler")

_ENDED_METRIC = {
    JobStatus.SUCCEEDED: "JobsSucceeded",
    JobStatus.FAILED: "JobsFailed",
    JobStatus.CANCELLED: "JobsCancelled",
}

# How many writes in a row one delivery may lose to other actors before it
# leaves the message for a later delivery.
MAX_TURNS = 3


class MalformedMessage(ValueError):
    pass


@attrs.frozen
class IncomingMessage:
    job_id: str
    enqueue_id: str
    payload: dict[str, Any]
    correlation_id: str

    @classmethod
    def parse(cls, body: str) -> IncomingMessage:
        try:
            document = json.loads(body)
            message = cls(
                job_id=document["job_id"],
                enqueue_id=document["enqueue_id"],
                payload=document["payload"],
                correlation_id=document["correlation_id"],
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise MalformedMessage(f"not a job message: {type(exc).__name__}") from None
        if not all(isinstance(v, str) for v in (message.job_id, message.enqueue_id, message.correlation_id)):
            raise MalformedMessage("not a job message: ids must be strings")
        return message


class WorkResult(enum.StrEnum):
    PROCESSED = "processed"
    STALE = "stale"  # its episode is over: the job moved on without it
    DUPLICATE = "duplicate"  # the job is final: this delivery has nothing left to do
    BUSY = "busy"  # another worker holds a live claim, or the job kept moving: deliver again later
    EXHAUSTED = "exhausted"  # claimed max_attempts times without finishing: now FAILED
    CANCELLED = "cancelled"  # its owner cancelled it while a claim on it lapsed: now CANCELLED

    @property
    def acknowledge(self) -> bool:
        """Whether the message may be deleted: only when the job no longer needs it."""
        return self is not WorkResult.BUSY


@attrs.frozen
class RetryLater:
    """The handler failed and will be retried: the message stays, and comes
    back after ``delay_s`` (its visibility timeout, set by the consumer)."""

    delay_s: int
    acknowledge = False


@attrs.frozen
class WorkSettings:
    max_attempts: int = 3
    margin: timedelta = timedelta(seconds=3)
    # Processing retries: the delay before attempt n+1 is drawn between half
    # and all of min(retry_max_delay, retry_base_delay * 2^(n-1)).
    retry_base_delay: timedelta = timedelta(seconds=2)
    retry_max_delay: timedelta = timedelta(minutes=5)
    max_result_bytes: int = 64 * 1024


class ProcessJobMessage:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        store_retrier: StoreRetrier,
        clock: Clock,
        ids: IdSource,
        handlers: Handlers,
        announce: Announce,
        rng: RandomSource,
        metrics: Metrics,
        settings: WorkSettings = WorkSettings(),
    ) -> None:
        self._jobs = jobs
        self._ids = ids
        self._store = store_retrier
        self._clock = clock
        self._handlers = handlers
        self._announce = announce
        self._rng = rng
        self._metrics = metrics
        self._settings = settings

    def __call__(self, message: IncomingMessage, invocation_end: datetime) -> WorkResult | RetryLater:
        """Raises ``StoreFailed`` when the job store cannot answer: the
        message should then be delivered again."""
        # No claim is made, and so no handler started, after work_by: the
        # margin is the completion write's.
        budget = Budget.ending(invocation_end, self._settings.margin)
        job = self._store.run(lambda: self._jobs.get(message.job_id), budget.work_by)
        claimed = self._claim(job, message, budget)
        if isinstance(claimed, WorkResult):
            return claimed
        return self._finish(claimed, message, budget)

    def _claim(self, job: Job | None, message: IncomingMessage, budget: Budget) -> Job | WorkResult:
        """The job, claimed by this delivery; or the verdict that ends it."""
        for _ in range(MAX_TURNS):
            move = self._next_move(job, message, budget.lease_until)
            if isinstance(move, WorkResult) or self._clock.now() >= budget.work_by:
                # Too late to claim is the same as busy: a later delivery will.
                self._metrics.count("MessagesSkipped")
                return move if isinstance(move, WorkResult) else WorkResult.BUSY
            assert job is not None  # a missing job makes the message stale
            expected = Expected.of(job)
            try:
                self._store.run(lambda: self._jobs.save(move, expected), budget.work_by)  # noqa: B023
            except ConditionFailed as exc:
                if exc.current != move:  # else our own ambiguous write landed
                    # Another actor won: judge the message again on what it wrote.
                    job = exc.current
                    continue
            if move.status is JobStatus.CANCELLED:
                log.info("cancelled job's expired claim ended; not run again", extra=_fields(move))
                self._metrics.count("JobsCancelled", job_type=move.job_type)
                self._announce(move, budget.settle_by)
                return WorkResult.CANCELLED
            if move.status is JobStatus.FAILED:
                log.error("claims exhausted; job FAILED", extra=_fields(move))
                self._metrics.count("ClaimsExhausted")
                self._metrics.count("JobsFailed", job_type=move.job_type)
                self._announce(move, budget.settle_by)
                return WorkResult.EXHAUSTED
            return move
        log.warning("job kept moving; message left for a later delivery", extra={"job_id": message.job_id})
        self._metrics.count("MessagesSkipped")
        return WorkResult.BUSY

    def _next_move(self, job: Job | None, message: IncomingMessage, claim_until: datetime) -> Job | WorkResult:
        """What this delivery does about ``job``: a write to make, or a verdict."""
        verdict = judge(job, message)
        if verdict is not None:
            return verdict
        assert job is not None
        now = self._clock.now()
        if job.status is JobStatus.PROCESSING:
            if not job.claim_expired(now):
                return WorkResult.BUSY
            if job.cancel_requested:
                # Its owner asked it to stop: a lapsed claim is not run again.
                return job.cancelled(at=now)
            if job.claims >= self._settings.max_attempts:
                error = LastError(
                    "ClaimsExhausted",
                    FailureKind.PROCESSING,
                    f"claimed {job.claims} times and never finished; the last worker stopped",
                    now,
                )
                return job.failed(error=error, at=now)
            log.warning("expired claim taken over", extra=_fields(job))
        return job.processing(claim_id=self._ids.new_claim_id(), at=now, until=claim_until)

    def _finish(self, claimed: Job, message: IncomingMessage, budget: Budget) -> WorkResult | RetryLater:
        """Run the job's handler and write what came of it."""
        done = self._run(claimed, message, budget)
        stored = claimed
        for _ in range(MAX_TURNS):
            try:
                self._store.run(lambda: self._jobs.save(done, Expected.of(stored)), budget.settle_by)  # noqa: B023
                break
            except ConditionFailed as exc:
                if exc.current == done:  # our own ambiguous write landed
                    break
                current = exc.current
                if current is None or not _asked_to_stop(current, claimed):
                    # Our claim expired and another delivery took the job over.
                    log.error("job moved while being processed", extra=_fields(done, found=_status(current)))
                    verdict = judge(current, message)
                    return WorkResult.BUSY if verdict is None else verdict
                # Its owner asked it to stop while it ran: what the handler
                # made of the job stands, but a retry is a cancel.
                stored, done = current, _stopped(done, current, self._clock.now())
        else:
            log.warning("job kept moving; message left for a later delivery", extra=_fields(done))
            return WorkResult.BUSY
        if done.status is JobStatus.QUEUED:
            delay = self._retry_delay(done.claims)
            log.warning("job will be retried", extra=_fields(done, delay_s=delay))
            self._metrics.count("JobRetries", job_type=done.job_type)
            return RetryLater(delay)
        self._metrics.count("JobsProcessed")
        self._metrics.count(_ENDED_METRIC[done.status], job_type=done.job_type)
        self._announce(done, budget.settle_by)
        return WorkResult.PROCESSED

    def _run(self, job: Job, message: IncomingMessage, budget: Budget) -> Job:
        """The job as its handler left it: SUCCEEDED with its result,
        QUEUED for a retry, or FAILED."""
        context = JobContext(
            job_id=job.job_id,
            job_type=job.job_type,
            owner=job.owner,
            correlation_id=job.correlation_id,
            attempt=job.claims,
            max_attempts=self._settings.max_attempts,
            deadline=budget.work_by,
            max_result_bytes=self._settings.max_result_bytes,
            logger=JobLogger(handler_log, {**_fields(job), "job_type": job.job_type, "attempt": job.claims}),
            clock=self._clock,
            cancel_check=lambda: self._cancel_asked(job, budget),
        )
        handler = self._handlers.handler_for(job.job_type)
        if handler is None:
            error = self._error("UnknownJobType", f"no handler knows the job type {job.job_type!r}")
            log.error("no handler for the job's type", extra=_fields(job, job_type=job.job_type))
            return job.failed(error=error, at=self._clock.now())
        try:
            result = handler(message.payload, context)
        except JobCancelled:
            if self._cancel_asked(job, budget):
                log.info("handler stopped on a cancel", extra=_fields(job))
                return job.cancelled(at=self._clock.now())
            # Only the job's owner cancels it: a job accepted must end by its work.
            log.error("handler raised JobCancelled, but the job was not cancelled", extra=_fields(job))
            error = self._error("JobCancelled", "the handler stopped as if cancelled, but no cancel was asked")
            return job.failed(error=error, at=self._clock.now())
        except Exception as exc:
            retryable = not isinstance(exc, JobError) or exc.retryable
            code = exc.code if isinstance(exc, JobError) else type(exc).__name__
            log.exception("handler failed", extra=_fields(job, code=code, retryable=retryable))
            self._metrics.count("StepFailures", job_type=job.job_type)
            # A JobError's message is the handler's word to the job's owner.
            # Any other exception's can be anything (an AWS error names the
            # worker's role and account): it stays in the log line above.
            told = str(exc)[:500] if isinstance(exc, JobError) else f"the handler raised {code}; see the worker's log"
            error = self._error(code, told)
            if retryable and job.claims < self._settings.max_attempts:
                return job.retrying(error=error, at=self._clock.now())
            return job.failed(error=error, at=self._clock.now())
        encoded = self._encoded(result)
        if isinstance(encoded, LastError):
            context.logger.error("result refused", extra={"code": encoded.code, "reason": encoded.message})
            return job.failed(error=encoded, at=self._clock.now())
        return job.succeeded(at=self._clock.now(), result=encoded)

    def _cancel_asked(self, job: Job, budget: Budget) -> bool:
        """Whether ``job``'s owner asked it to stop since it was claimed."""
        try:
            current = self._store.run(lambda: self._jobs.get(job.job_id), budget.work_by)
        except StoreFailed as exc:
            log.warning("cancel not checked: the store failed", extra=_fields(job, code=exc.code))
            return False
        return current is not None and (_asked_to_stop(current, job) or current.status is JobStatus.CANCELLED)

    def _encoded(self, result: Any) -> str | LastError | None:
        """The result as it is stored (None for none), or why it cannot be."""
        if result is None:
            return None
        if nested_deeper_than(result):
            # GET and the completion event decode and encode it again, a
            # level or two deeper each: only a shallow result stays safe.
            return self._error("ResultTooDeep", f"the result nests objects and arrays deeper than {MAX_NESTING} levels")
        try:
            encoded = json.dumps(
                result,
                separators=(",", ":"),
                ensure_ascii=False,  # pragma: no mutate (None is as false)
                allow_nan=False,  # pragma: no mutate (None refuses NaN alike)
            )
            size = len(encoded.encode())  # a lone surrogate dumps, then cannot be stored as UTF-8
        except (TypeError, ValueError, RecursionError) as exc:
            return self._error("ResultNotJson", f"the result is not JSON: {type(exc).__name__}: {str(exc)[:200]}")
        if size > self._settings.max_result_bytes:
            return self._error(
                "ResultTooLarge",
                f"the result is {size} bytes of JSON; at most {self._settings.max_result_bytes}: "
                "store it elsewhere (S3) and return a reference",
            )
        return encoded

    def _error(self, code: str, message: str) -> LastError:
        return LastError(code, FailureKind.PROCESSING, message, self._clock.now())

    def _retry_delay(self, attempt: int) -> int:
        """Seconds before the next attempt: between half and all of the
        exponential ceiling (never nearly none: the failure is recent)."""
        base, cap = self._settings.retry_base_delay.total_seconds(), self._settings.retry_max_delay.total_seconds()
        ceiling = min(cap, base * 2 ** min(attempt - 1, _MAX_DOUBLINGS))
        return math.ceil(self._rng.uniform(ceiling / 2, ceiling))


class JobLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger bound to a job: every record names it, beside the fields
    the handler gives."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs


def judge(job: Job | None, message: IncomingMessage) -> WorkResult | None:
    """What a message is worth, given its job; None if the job still needs it."""
    if job is None or job.enqueue_id != message.enqueue_id or job.status is JobStatus.PENDING:
        return WorkResult.STALE
    if job.status in FINAL:
        return WorkResult.DUPLICATE
    return None


def _asked_to_stop(current: Job, claimed: Job) -> bool:
    """``current`` is the claimed job, changed only by its owner's cancel request."""
    return (
        current.status is JobStatus.PROCESSING
        and current.claim_id == claimed.claim_id
        and current.enqueue_id == claimed.enqueue_id
        and current.cancel_requested
    )


def _stopped(done: Job, current: Job, now: datetime) -> Job:
    """What the handler made of the job (``done``), written over ``current``,
    the same claim asked to stop: a retry becomes a cancel."""
    if done.status is JobStatus.QUEUED:
        return current.cancelled(at=now)
    return attrs.evolve(done, version=current.version + 1, cancel_requested=True)


def _status(job: Job | None) -> str | None:
    return None if job is None else job.status.value


def _fields(job: Job, **more: object) -> dict[str, object]:
    return {"job_id": job.job_id, "enqueue_id": job.enqueue_id, "claims": job.claims, **more}
