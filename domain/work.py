"""The consumer side of the protocol: the reference worker.

A message is live only while its job is QUEUED with the message's
enqueue_id. A live message is claimed (QUEUED -> PROCESSING, conditional on
that state) and processed once; every other message is stale or a duplicate
and is acknowledged without side effects. No job is processed twice: a
claim needs QUEUED with the message's enqueue_id, and nothing leads from
PROCESSING back to QUEUED.
"""

from __future__ import annotations

import enum
import json
import logging
from datetime import datetime
from typing import Any, Protocol

import attrs

from domain.failures import FailureKind, LastError
from domain.job import Expected, Job, JobStatus
from domain.store_retries import StoreRetries
from ports.repository import ConditionFailed, JobRepository
from ports.runtime import Clock, IdSource, Metrics

log = logging.getLogger("jobs.worker")


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
    """The work itself. Raising marks the job FAILED."""

    def __call__(self, job: Job, payload: dict[str, Any]) -> None: ...


class WorkResult(enum.StrEnum):
    PROCESSED = "processed"
    STALE = "stale"  # its episode is over: the job moved on without it
    DUPLICATE = "duplicate"  # another delivery of a message already claimed


class ProcessJobMessage:
    def __init__(
        self, *, jobs: JobRepository, store: StoreRetries, clock: Clock, ids: IdSource, step: JobStep, metrics: Metrics
    ) -> None:
        self._jobs = jobs
        self._ids = ids
        self._store = store
        self._clock = clock
        self._step = step
        self._metrics = metrics

    def __call__(self, message: IncomingMessage, deadline: datetime) -> WorkResult:
        """Raises ``StoreFailed`` when the job store cannot answer: the
        message should then be delivered again."""
        job = self._jobs.get(message.job_id)
        verdict = _judge(job, message)
        if verdict is not None:
            self._metrics.count("MessagesSkipped")
            return verdict
        assert job is not None  # a missing job makes the message stale
        claimed = job.processing(claim_id=self._ids.new_claim_id(), at=self._clock.now())
        try:
            self._store.run(lambda: self._jobs.save(claimed, Expected.of(job)), deadline)
        except ConditionFailed as exc:
            if exc.current != claimed:  # else our own ambiguous claim landed
                self._metrics.count("MessagesSkipped")
                return _judge(exc.current, message) or WorkResult.DUPLICATE
        done = self._run_step(claimed, message)
        try:
            self._store.run(lambda: self._jobs.save(done, Expected.of(claimed)), deadline)
        except ConditionFailed as exc:
            if exc.current != done:  # else our own ambiguous write landed
                # Nothing else moves a job we claimed: worth a person's look.
                log.error("job moved while being processed", extra={"job_id": done.job_id})
        self._metrics.count("JobsProcessed")
        return WorkResult.PROCESSED

    def _run_step(self, job: Job, message: IncomingMessage) -> Job:
        try:
            self._step(job, message.payload)
        except Exception as exc:
            log.exception("processing step failed", extra={"job_id": job.job_id, "enqueue_id": job.enqueue_id})
            error = LastError(type(exc).__name__, FailureKind.PROCESSING, str(exc)[:500], self._clock.now())
            return job.failed(error=error, at=self._clock.now())
        return job.succeeded(at=self._clock.now())


def _judge(job: Job | None, message: IncomingMessage) -> WorkResult | None:
    """What a message is worth, given its job; None if it is live."""
    if job is None or job.enqueue_id != message.enqueue_id or job.status is JobStatus.PENDING:
        return WorkResult.STALE
    if job.status is JobStatus.QUEUED:
        return None
    return WorkResult.DUPLICATE
