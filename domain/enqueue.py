"""The producer side of the consistency protocol, for one request.

1. Create the job already QUEUED with a fresh enqueue_id, or find the one
   its Idempotency-Key names (one conditional write, no read).
2. Send, retrying what is worth retrying with the same enqueue_id.
3. On success, confirm the send (clear ``unconfirmed_since``): from then on
   the reconciler leaves the job alone, so the 202 stays true.
4. On failure, roll back QUEUED -> PENDING on the condition that the job is
   still ours; a failed condition tells what happened instead.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import attrs

from domain.budget import Budget
from domain.failures import FailureKind, LastError, OutsideFailure, abandoned
from domain.job import Expected, Job, JobStatus
from domain.outcomes import (
    Accepted,
    ContentRejected,
    Failed,
    InFlight,
    KeyReused,
    Outcome,
    Unavailable,
    Unsettled,
)
from domain.retry import Attempted, GaveUp, GiveUp, Retrier, Retry
from domain.store_retries import StoreRetries
from domain.submission import Submission
from ports.publisher import JobPublisher, OutgoingMessage, SendFailed
from ports.repository import AlreadyExists, ConditionFailed, JobRepository, StoreFailed
from ports.runtime import Clock, IdSource, Metrics

log = logging.getLogger("jobs.enqueue")


class Answered(Exception):
    """A step's way to end the request early: with this answer, nothing sent."""

    def __init__(self, outcome: Outcome) -> None:
        # Exception.__new__ has already kept the outcome in args, for a traceback.
        self.outcome = outcome


@attrs.frozen
class EnqueueSettings:
    deadline_margin: timedelta
    retry_after_s: int


class EnqueueJob:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        publisher: JobPublisher,
        retries: StoreRetries,
        sends: Retrier,
        clock: Clock,
        ids: IdSource,
        metrics: Metrics,
        settings: EnqueueSettings,
    ) -> None:
        self._jobs = jobs
        self._publisher = publisher
        self._retries = retries
        self._sends = sends
        self._clock = clock
        self._ids = ids
        self._metrics = metrics
        self._settings = settings

    def __call__(self, submission: Submission, deadline: datetime) -> Outcome:
        budget = Budget.ending(deadline, self._settings.deadline_margin)
        try:
            job = self._record(submission, budget)
        except Answered as answered:
            return answered.outcome
        return self._drive(job, submission, budget)

    def _record(self, submission: Submission, budget: Budget) -> Job:
        """Step 1: the job QUEUED under a fresh enqueue_id, created or found
        by its key; ``Answered`` when the request is answered without a send."""
        key = submission.idempotency_key
        job_id = self._ids.job_id_for_key(submission.caller, key) if key else self._ids.new_job_id()
        now = self._clock.now()
        fresh = Job.submitted(
            job_id=job_id,
            job_type=submission.job_type,
            request_hash=submission.request_hash,
            correlation_id=submission.correlation_id,  # pragma: no mutate (queued() below sets it again)
            owner=submission.caller,
            idempotency_key=key,
            at=now,
        ).queued(
            enqueue_id=self._ids.new_enqueue_id(),
            correlation_id=submission.correlation_id,
            at=now,
            lease_until=budget.lease_until,
        )
        try:
            self._retries.run(lambda: self._jobs.create(fresh), budget.settle_by)
        except AlreadyExists as exc:
            if exc.existing != fresh:  # else our own ambiguous first attempt landed
                return self._resume(exc.existing, submission, budget)
        except StoreFailed as exc:
            log.warning("job not recorded", extra=_fields(fresh, code=exc.code, kind=exc.kind.value))
            if key is not None and exc.kind is not FailureKind.AMBIGUOUS:
                raise Answered(self._answer_unwritten(job_id, submission, exc, budget)) from exc
            raise Answered(self._write_failed(job_id, None, exc)) from exc
        return fresh

    def _answer_unwritten(self, job_id: str, submission: Submission, exc: StoreFailed, budget: Budget) -> Outcome:
        """The create surely did not land, but the key may name a job from an
        earlier request: answer for that job, not for the write that failed.
        Reads often go through when writes are throttled."""
        try:
            existing = self._retries.run(lambda: self._jobs.get(job_id), budget.settle_by)
        except StoreFailed:
            return Unsettled(job_id, exc.as_last_error(self._clock.now()))
        replay = None if existing is None else _replay(existing, submission, self._clock.now())
        return replay or self._write_failed(job_id, existing, exc)

    def _write_failed(self, job_id: str, stored: Job | None, exc: StoreFailed) -> Outcome:
        """The answer to a request whose write did not go through, true to
        what is stored: a 503 says PENDING (or nothing), so anything else, or
        a write that may have landed after all, is a 500 left unsettled."""
        error = exc.as_last_error(self._clock.now())
        if exc.kind is FailureKind.AMBIGUOUS or (stored is not None and stored.status is not JobStatus.PENDING):
            return Unsettled(job_id, error)
        # Nothing stored means no job to name: a GET for its id would be 404.
        return self._failure_outcome(job_id if stored is not None else None, error)

    def _resume(self, existing: Job, submission: Submission, budget: Budget) -> Job:
        """The key's job, re-driven under a fresh enqueue_id; ``Answered``
        when its state answers the request instead."""
        replay = _replay(existing, submission, self._clock.now())
        if replay is not None:
            raise Answered(replay)
        now = self._clock.now()
        start = existing
        if existing.awaiting_confirmation:
            # Its invocation has ended (lease expired) without settling it.
            start = existing.rolled_back(
                error=abandoned(now, "a retry of the request"),
                attempts=0,
                at=now,  # pragma: no mutate (queued() below stamps the time again)
            )
        requeued = start.queued(
            enqueue_id=self._ids.new_enqueue_id(),
            correlation_id=submission.correlation_id,
            at=now,
            lease_until=budget.lease_until,
        )
        try:
            self._retries.run(lambda: self._jobs.save(requeued, Expected.of(existing)), budget.settle_by)
        except ConditionFailed as exc:
            if exc.current == requeued:
                return requeued
            # Someone else moved it first; tell what they made of it.
            current = exc.current or existing
            raise Answered(_replay(current, submission, now) or InFlight(existing.job_id)) from exc
        except StoreFailed as exc:
            raise Answered(self._write_failed(existing.job_id, existing, exc)) from exc
        log.info("job re-driven", extra=_fields(requeued, previous_status=existing.status.value))
        return requeued

    def _drive(self, job: Job, submission: Submission, budget: Budget) -> Outcome:
        assert job.enqueue_id is not None
        message = OutgoingMessage(
            job_id=job.job_id,
            enqueue_id=job.enqueue_id,
            body=submission.message_body(job_id=job.job_id, enqueue_id=job.enqueue_id, submitted_at=job.created_at),
            correlation_id=submission.correlation_id,
        )

        def heard(attempted: Attempted) -> None:
            failure, decision = attempted.failure, attempted.decision
            delay_ms = round(decision.delay_s * 1000) if isinstance(decision, Retry) else None
            log.warning(
                "send attempt failed",
                extra=_fields(
                    job,
                    attempt=attempted.attempt,
                    code=failure.code,
                    kind=failure.kind.value,
                    http_status=failure.http_status,
                    sqs_request_id=failure.request_id,
                    decision=type(decision).__name__,
                    delay_ms=delay_ms,
                    reason=decision.reason if isinstance(decision, GiveUp) else None,
                ),
            )
            if isinstance(decision, Retry):
                self._metrics.count("SendRetries")

        try:
            receipt, attempts = self._sends.run(
                lambda: self._publisher.publish(message), budget.work_by, SendFailed, heard
            )
        except GaveUp as gave_up:
            failure = gave_up.last or SendFailed(
                FailureKind.DEADLINE, "DeadlineReached", "no send attempt fits before the deadline"
            )
            return self._roll_back(job, failure, gave_up.attempts, budget)
        log.info(
            "send attempt succeeded",
            extra=_fields(job, attempt=attempts, message_id=receipt.message_id, sqs_request_id=receipt.request_id),
        )
        return self._confirm(job, attempts, budget)

    def _confirm(self, job: Job, attempts: int, budget: Budget) -> Outcome:
        sent = job.sent(attempts=attempts, at=self._clock.now())
        try:
            self._retries.run(lambda: self._jobs.save(sent, Expected.of(job)), budget.settle_by)
        except ConditionFailed as exc:
            current = exc.current
            if not _accepted_with(current, job):
                log.error("send not confirmed: job moved", extra=_fields(job, found=_status(current)))
                if current is not None and current.status is JobStatus.PENDING and current.last_error:
                    return self._failure_outcome(job.job_id, current.last_error)
                return Unsettled(job.job_id, _superseded(self._clock.now()))
        except StoreFailed as exc:
            # Without the confirmation the reconciler would one day undo a
            # 202; undo the episode now instead, while we still can.
            log.warning("send not confirmed", extra=_fields(job, code=exc.code, kind=exc.kind.value))
            return self._roll_back(job, exc, attempts, budget)
        self._metrics.count("JobsAccepted")
        return Accepted(job.job_id)

    def _roll_back(self, job: Job, failure: OutsideFailure, attempts: int, budget: Budget) -> Outcome:
        error = failure.as_last_error(self._clock.now())
        back = job.rolled_back(error=error, attempts=attempts, at=error.at)
        self._metrics.count("Rollbacks")
        try:
            self._retries.run(lambda: self._jobs.save(back, Expected.of(job)), budget.settle_by)
        except ConditionFailed as exc:
            current = exc.current
            if _accepted_with(current, job):
                # A worker took the message, or our own confirmation landed
                # after all: either way the job is live, and 202 is the truth.
                log.info("rollback not needed: job accepted", extra=_fields(job, found=_status(current)))
                self._metrics.count("JobsAccepted")
                return Accepted(job.job_id)
            if current is None or current.status is not JobStatus.PENDING:
                log.error("rollback refused: job moved", extra=_fields(job, found=_status(current)))
                self._metrics.count("RollbackFailures")
                return Unsettled(job.job_id, error)
            log.info("rollback found the job already PENDING", extra=_fields(job, code=error.code))
        except StoreFailed as exc:
            log.error(
                "rollback failed; left to the reconciler",
                extra=_fields(job, code=error.code, rollback_code=exc.code, rollback_kind=exc.kind.value),
            )
            self._metrics.count("RollbackFailures")
            return Unsettled(job.job_id, error)
        else:
            log.info("rolled back to PENDING", extra=_fields(job, code=error.code, kind=error.kind.value))
        return self._failure_outcome(job.job_id, error)

    def _failure_outcome(self, job_id: str | None, error: LastError) -> Outcome:
        """The answer to the failure a job was settled on; a replay gives
        the same through ``final_answer``, or re-drives the job."""
        if error.kind is FailureKind.PERMANENT:
            self._metrics.count("PermanentFailures")
        return final_answer(job_id, error) or Unavailable(job_id, error, self._settings.retry_after_s)


def _replay(existing: Job, submission: Submission, now: datetime) -> Outcome | None:
    """The answer an existing job gives without any write, if there is one."""
    if existing.request_hash != submission.request_hash:
        return KeyReused(existing.job_id)
    if existing.accepted:
        return Accepted(existing.job_id, replayed=True)
    if existing.awaiting_confirmation and not existing.lease_expired(now):
        return InFlight(existing.job_id)
    last = existing.last_error
    # Failures no retry can mend are answered again; the rest re-drive.
    if existing.status is JobStatus.PENDING and last is not None:
        return final_answer(existing.job_id, last)
    return None


def final_answer(job_id: str | None, error: LastError) -> Outcome | None:
    """The answer to a failure no retry can mend, the first time and on
    every replay; None when a retry may."""
    if error.kind is FailureKind.PERMANENT:
        return Failed(job_id, error)
    if error.kind is FailureKind.CLIENT_CONTENT:
        return ContentRejected(job_id, error, too_large=error.too_large)
    return None


def _accepted_with(current: Job | None, job: Job) -> bool:
    """Whether the stored job is accepted in the episode ``job`` started."""
    return current is not None and current.accepted and current.enqueue_id == job.enqueue_id


def _superseded(at: datetime) -> LastError:
    return LastError("Superseded", FailureKind.AMBIGUOUS, "the job was moved by another actor", at)


def _status(job: Job | None) -> str | None:
    return None if job is None else job.status.value


def _fields(job: Job, **more: object) -> dict[str, object]:
    return {
        "correlation_id": job.correlation_id,
        "job_id": job.job_id,
        "enqueue_id": job.enqueue_id,
        **{k: v for k, v in more.items() if v is not None},
    }
