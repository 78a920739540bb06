"""The consumer side of the protocol: the reference worker.

A message is live only while its job is QUEUED with the message's
enqueue_id. A live message is claimed (QUEUED -> PROCESSING, conditional on
the version read) and its step run; the message is acknowledged only once
the job no longer needs it: the job is final, or the message is stale.

Every failed conditional write asks whose write won and whether this
message is still live: a claim that loses to the producer's confirmation
finds the job still QUEUED with its enqueue_id, and claims again from what
the failed write showed.

Processing is at least once, with the attempt number: a claim holds a lease
until its invocation's end; a worker that dies after its claim leaves the
message undeleted, and the next delivery after the lease takes the claim
over (``Job.claims`` counts them). After ``max_claims`` the job is FAILED.
Two runs never overlap while each stays inside its invocation's deadline.
"""

from __future__ import annotations

import enum
import json
import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from domain.budget import Budget
from domain.failures import FailureKind, LastError
from domain.job import FINAL, Expected, Job, JobStatus
from domain.store_retrier import StoreRetrier
from ports.repository import ConditionFailed, JobRepository
from ports.runtime import Clock, IdSource, Metrics

log = logging.getLogger("jobs.worker")

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
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedMessage(f"not a job message: {type(exc).__name__}") from None
        if not all(isinstance(v, str) for v in (message.job_id, message.enqueue_id, message.correlation_id)):
            raise MalformedMessage("not a job message: ids must be strings")
        return message


class JobStep(Protocol):
    """The work itself. Raising marks the job FAILED.

    Called at least once per accepted job: ``job.claims`` is the attempt
    number (1 on the first run). A later run starts only after the earlier
    one's invocation has ended, so a step keyed on (job_id, claims) or
    idempotent by job_id is safe."""

    def __call__(self, job: Job, payload: dict[str, Any]) -> None: ...


class WorkResult(enum.StrEnum):
    PROCESSED = "processed"
    STALE = "stale"  # its episode is over: the job moved on without it
    DUPLICATE = "duplicate"  # the job is final: this delivery has nothing left to do
    BUSY = "busy"  # another worker holds a live claim, or the job kept moving: deliver again later
    EXHAUSTED = "exhausted"  # claimed max_claims times without finishing: now FAILED

    @property
    def acknowledge(self) -> bool:
        """Whether the message may be deleted: only when the job no longer needs it."""
        return self is not WorkResult.BUSY


@attrs.frozen
class WorkSettings:
    max_claims: int = 3
    margin: timedelta = timedelta(seconds=3)


class ProcessJobMessage:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        store_retrier: StoreRetrier,
        clock: Clock,
        ids: IdSource,
        step: JobStep,
        metrics: Metrics,
        settings: WorkSettings = WorkSettings(),
    ) -> None:
        self._jobs = jobs
        self._ids = ids
        self._store = store_retrier
        self._clock = clock
        self._step = step
        self._metrics = metrics
        self._settings = settings

    def __call__(self, message: IncomingMessage, invocation_end: datetime) -> WorkResult:
        """Raises ``StoreFailed`` when the job store cannot answer: the
        message should then be delivered again."""
        # No claim is made, and so no step started, after work_by: the margin
        # is the completion write's.
        budget = Budget.ending(invocation_end, self._settings.margin)
        job = self._store.run(lambda: self._jobs.get(message.job_id), budget.work_by)
        claimed = self._claim(job, message, budget)
        if isinstance(claimed, WorkResult):
            return claimed
        return self._finish(claimed, message, budget.settle_by)

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
            if move.status is JobStatus.FAILED:
                log.error("claims exhausted; job FAILED", extra=_fields(move))
                self._metrics.count("ClaimsExhausted")
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
            if job.claims >= self._settings.max_claims:
                error = LastError(
                    "ClaimsExhausted",
                    FailureKind.PROCESSING,
                    f"claimed {job.claims} times and never finished; the last worker stopped",
                    now,
                )
                return job.failed(error=error, at=now)
            log.warning("expired claim taken over", extra=_fields(job))
        return job.processing(claim_id=self._ids.new_claim_id(), at=now, until=claim_until)

    def _finish(self, claimed: Job, message: IncomingMessage, write_by: datetime) -> WorkResult:
        """Run the step and write its outcome."""
        done = self._run_step(claimed, message)
        try:
            self._store.run(lambda: self._jobs.save(done, Expected.of(claimed)), write_by)
        except ConditionFailed as exc:
            if exc.current != done:  # else our own ambiguous write landed
                # Our claim expired and another delivery took the job over.
                log.error("job moved while being processed", extra=_fields(done, found=_status(exc.current)))
                verdict = judge(exc.current, message)
                return WorkResult.BUSY if verdict is None else verdict
        self._metrics.count("JobsProcessed")
        return WorkResult.PROCESSED

    def _run_step(self, job: Job, message: IncomingMessage) -> Job:
        try:
            self._step(job, message.payload)
        except Exception as exc:
            log.exception("processing step failed", extra=_fields(job))
            error = LastError(type(exc).__name__, FailureKind.PROCESSING, str(exc)[:500], self._clock.now())
            return job.failed(error=error, at=self._clock.now())
        return job.succeeded(at=self._clock.now())


def judge(job: Job | None, message: IncomingMessage) -> WorkResult | None:
    """What a message is worth, given its job; None if the job still needs it."""
    if job is None or job.enqueue_id != message.enqueue_id or job.status is JobStatus.PENDING:
        return WorkResult.STALE
    if job.status in FINAL:
        return WorkResult.DUPLICATE
    return None


def _status(job: Job | None) -> str | None:
    return None if job is None else job.status.value


def _fields(job: Job, **more: object) -> dict[str, object]:
    return {"job_id": job.job_id, "enqueue_id": job.enqueue_id, "claims": job.claims, **more}
