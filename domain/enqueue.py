"""The producer side of the consistency protocol, for one request.

1. Record: create the job already QUEUED with a fresh enqueue_id, or find
   the one its Idempotency-Key names (one conditional write, no read).
2. Send, retrying what is worth retrying with the same enqueue_id.
3. Confirm the send (clear ``unconfirmed_since``): from then on the
   reconciler leaves the job alone, so the 202 stays true. Or roll back
   QUEUED -> PENDING on the condition that the job is still ours.
4. Answer: every step ends by asking ``domain.answers.answer`` what is true
   of the job as stored; a failed condition says what happened instead.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import attrs

from domain.answers import RetryAfter, Write, answer, settled_on
from domain.budget import Budget
from domain.failures import FailureKind, LastError, OutsideFailure, abandoned
from domain.job import RERUNNABLE, Expected, Job
from domain.outcomes import Accepted, Failed, InFlight, NotFound, Outcome, RerunOutcome, Unsettled, WrongState
from domain.retry import Attempted, GaveUp, GiveUp, Retrier, Retry
from domain.store_retrier import StoreRetrier
from domain.submission import Submission
from ports.publisher import JobPublisher, OutgoingMessage, SendFailed
from ports.repository import AlreadyExists, ConditionFailed, JobRepository, StoreFailed
from ports.runtime import Clock, IdSource, Metrics

log = logging.getLogger("jobs.enqueue")


@attrs.frozen
class EnqueueSettings:
    deadline_margin: timedelta
    retry_after: RetryAfter


class EnqueueJob:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        publisher: JobPublisher,
        store_retrier: StoreRetrier,
        send_retrier: Retrier[SendFailed],
        clock: Clock,
        ids: IdSource,
        metrics: Metrics,
        settings: EnqueueSettings,
    ) -> None:
        self._jobs = jobs
        self._publisher = publisher
        self._store = store_retrier
        self._sends = send_retrier
        self._clock = clock
        self._ids = ids
        self._metrics = metrics
        self._settings = settings

    def __call__(self, submission: Submission, deadline: datetime) -> Outcome:
        budget = Budget.ending(deadline, self._settings.deadline_margin)
        return self._drive(submission, self._record(submission, budget), budget)

    def rerun(self, job_id: str, caller: str, correlation_id: str, deadline: datetime) -> RerunOutcome:
        """Re-drive a job whose last episode ended without a result (FAILED,
        CANCELLED, or PENDING after a failed send) from its stored payload:
        a new episode under the same id, answered as a submission is."""
        budget = Budget.ending(deadline, self._settings.deadline_margin)
        try:
            job = self._store.run(lambda: self._jobs.get(job_id), budget.settle_by)
        except StoreFailed as exc:
            return self._unwritten(job_id, exc)
        if job is None or not job.visible_to(caller):
            return NotFound(job_id)
        refused = rerun_refusal(job, self._clock.now())
        if refused is not None:
            return refused
        assert job.payload is not None  # rerun_refusal refuses a job without one
        submission = Submission(
            job_type=job.job_type,
            payload=json.loads(job.payload),
            correlation_id=correlation_id,
            caller=caller,
            idempotency_key=job.idempotency_key,
        )
        return self._drive(submission, self._reopen(job, submission, budget), budget)

    def _drive(self, submission: Submission, recorded: Job | Outcome, budget: Budget) -> Outcome:
        """Send the recorded episode and confirm it or roll it back; or
        answer what recording it came to."""
        if isinstance(recorded, Job):
            failure, attempts = self._send(recorded, submission, budget)
            if failure is None:
                outcome = self._confirm(recorded, attempts, budget)
            else:
                outcome = self._roll_back(recorded, failure, attempts, budget)
        else:
            outcome = recorded
        if isinstance(outcome, Accepted) and not outcome.replayed:
            self._metrics.count("JobsAccepted")
        if isinstance(outcome, Failed) and not outcome.replayed:
            self._metrics.count("PermanentFailures")
        return outcome

    def _record(self, submission: Submission, budget: Budget) -> Job | Outcome:
        """The job QUEUED under a fresh enqueue_id, created or found by its
        key; or the answer, when the request ends without a send."""
        key = submission.idempotency_key
        job_id = self._ids.job_id_for_key(submission.caller, key) if key else self._ids.new_job_id()
        # While the id key is rotated the same key may name a job under the
        # other key's id: the create is refused if it does.
        other = self._ids.other_job_id_for_key(submission.caller, key) if key else None
        now = self._clock.now()
        fresh = Job.submitted(
            job_id=job_id,
            job_type=submission.job_type,
            request_hash=submission.request_hash,
            correlation_id=submission.correlation_id,  # pragma: no mutate (queued() below sets it again)
            owner=submission.caller,
            idempotency_key=key,
            at=now,
            payload=submission.payload_json,
        ).queued(
            enqueue_id=self._ids.new_enqueue_id(),
            correlation_id=submission.correlation_id,
            at=now,
            lease_until=budget.lease_until,
        )
        try:
            self._store.run(lambda: self._jobs.create(fresh, unless_taken=other), budget.settle_by)
        except AlreadyExists as exc:
            if exc.existing == fresh:  # our own ambiguous first attempt landed
                return fresh
            # The key's job, under whichever id it was made: this request is about that one.
            return self._resume(exc.existing, fresh.under(exc.existing.job_id), submission, budget)
        except StoreFailed as exc:
            log.warning("job not recorded", extra=_fields(fresh, code=exc.code, kind=exc.kind.value))
            return self._unrecorded(fresh, other, exc, budget)
        return fresh

    def _unrecorded(self, fresh: Job, other: str | None, exc: StoreFailed, budget: Budget) -> Outcome:
        """The create failed. If it surely did not land, the key may still
        name a job from an earlier request, under its id or the rotation's
        other: answer for that one (reads often go through when writes are
        throttled)."""
        write, existing = Write.REFUSED, None
        if exc.kind is FailureKind.AMBIGUOUS:
            write = Write.UNKNOWN
        elif fresh.idempotency_key is not None:

            def read(job_id: str) -> Job | None:
                return self._store.run(lambda: self._jobs.get(job_id), budget.settle_by)

            try:
                existing = read(fresh.job_id)
                if existing is None and other is not None:
                    existing = read(other)
            except StoreFailed:
                write = Write.UNKNOWN  # what is stored could not be read
        if existing is not None:
            fresh = fresh.under(existing.job_id)
        return self._answer(existing, fresh, write, exc.as_last_error(self._clock.now()))

    def _resume(self, existing: Job, fresh: Job, submission: Submission, budget: Budget) -> Job | Outcome:
        """The key's job, re-driven under a fresh enqueue_id; or the answer
        its state gives."""
        replay = self._ask(existing, fresh, Write.NONE)
        if replay is not None:
            return replay
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
            self._store.run(lambda: self._jobs.save(requeued, Expected.of(existing)), budget.settle_by)
        except ConditionFailed as exc:
            if exc.current == requeued:  # our own ambiguous write landed
                return requeued
            # Someone else moved it first; tell what they made of it.
            return self._answer(exc.current, requeued, Write.REFUSED)
        except StoreFailed as exc:
            write = Write.UNKNOWN if exc.kind is FailureKind.AMBIGUOUS else Write.REFUSED
            return self._answer(existing, requeued, write, exc.as_last_error(self._clock.now()))
        log.info("job re-driven", extra=_fields(requeued, previous_status=existing.status.value))
        return requeued

    def _reopen(self, job: Job, submission: Submission, budget: Budget) -> Job | Outcome:
        """The job QUEUED in a new episode, in one conditional write."""
        now = self._clock.now()
        requeued = job.reopened(at=now).queued(
            enqueue_id=self._ids.new_enqueue_id(),
            correlation_id=submission.correlation_id,
            at=now,
            lease_until=budget.lease_until,
        )
        try:
            self._store.run(lambda: self._jobs.save(requeued, Expected.of(job)), budget.settle_by)
        except ConditionFailed as exc:
            if exc.current != requeued:  # else our own ambiguous write landed
                # Cancelled, re-run or settled meanwhile: the caller asks again.
                log.info("re-run not started: job moved", extra=_fields(requeued, found=_status(exc.current)))
                return InFlight(job.job_id, MOVED)
        except StoreFailed as exc:
            return self._unwritten(job.job_id, exc)
        log.info("job re-run", extra=_fields(requeued, previous_status=job.status.value))
        self._metrics.count("JobsRerun", job_type=job.job_type)
        return requeued

    def _unwritten(self, job_id: str, exc: StoreFailed) -> Outcome:
        """A re-run the store failed before its episode began: the job is as
        it was, unless the write may have landed."""
        error = exc.as_last_error(self._clock.now())
        if exc.kind is FailureKind.AMBIGUOUS:
            return Unsettled(job_id, error)
        return settled_on(job_id, error, self._settings.retry_after)

    def _send(self, job: Job, submission: Submission, budget: Budget) -> tuple[SendFailed | None, int]:
        """The send's failure (None once a send went through), and the attempts made."""
        assert job.enqueue_id is not None
        message = OutgoingMessage(
            job_id=job.job_id,
            enqueue_id=job.enqueue_id,
            body=submission.message_body(job_id=job.job_id, enqueue_id=job.enqueue_id, submitted_at=job.created_at),
            correlation_id=submission.correlation_id,
        )
        try:
            receipt, attempts = self._sends.run(lambda: self._publisher.publish(message), budget.work_by, _fields(job))
        except GaveUp as gave_up:
            return send_failure(gave_up), gave_up.attempts
        log.info(
            "send attempt succeeded",
            extra=_fields(job, attempt=attempts, message_id=receipt.message_id, sqs_request_id=receipt.request_id),
        )
        return None, attempts

    def _confirm(self, job: Job, attempts: int, budget: Budget) -> Outcome:
        sent = job.sent(attempts=attempts, at=self._clock.now())
        try:
            self._store.run(lambda: self._jobs.save(sent, Expected.of(job)), budget.settle_by)
        except ConditionFailed as exc:
            outcome = self._answer(exc.current, job, Write.LANDED)
            if not isinstance(outcome, Accepted):  # else a worker took it, or our own write landed
                log.error("send not confirmed: job moved", extra=_fields(job, found=_status(exc.current)))
            return outcome
        except StoreFailed as exc:
            # Without the confirmation the reconciler would one day undo a
            # 202; undo the episode now instead, while we still can.
            log.warning("send not confirmed", extra=_fields(job, code=exc.code, kind=exc.kind.value))
            return self._roll_back(job, exc, attempts, budget)
        return self._answer(sent, job, Write.LANDED)

    def _roll_back(self, job: Job, failure: OutsideFailure, attempts: int, budget: Budget) -> Outcome:
        error = failure.as_last_error(self._clock.now())
        back = job.rolled_back(error=error, attempts=attempts, at=error.at)
        self._metrics.count("Rollbacks")
        try:
            self._store.run(lambda: self._jobs.save(back, Expected.of(job)), budget.settle_by)
        except ConditionFailed as exc:
            outcome = self._answer(exc.current, job, Write.LANDED, error)
            if isinstance(outcome, Accepted):
                # A worker took the message, or our own confirmation landed
                # after all: either way the job is live, and 202 is the truth.
                log.info("rollback not needed: job accepted", extra=_fields(job, found=_status(exc.current)))
            elif isinstance(outcome, Unsettled):
                log.error("rollback refused: job moved", extra=_fields(job, found=_status(exc.current)))
            else:
                log.info("rollback found the job already PENDING", extra=_fields(job, code=error.code))
        except StoreFailed as exc:
            log.error(
                "rollback failed; left to the reconciler",
                extra=_fields(job, code=error.code, rollback_code=exc.code, rollback_kind=exc.kind.value),
            )
            outcome = self._answer(job, job, Write.LANDED, error)  # pragma: no mutate (absent answers the same)
        else:
            log.info("rolled back to PENDING", extra=_fields(job, code=error.code, kind=error.kind.value))
            outcome = self._answer(back, job, Write.LANDED)  # back holds the error
        if isinstance(outcome, Unsettled):
            self._metrics.count("RollbackFailures")
        return outcome

    def _ask(self, stored: Job | None, ours: Job, write: Write, error: LastError | None = None) -> Outcome | None:
        return answer(stored, ours, write, error, now=self._clock.now(), retry_after=self._settings.retry_after)

    def _answer(self, stored: Job | None, ours: Job, write: Write, error: LastError | None = None) -> Outcome:
        """``answer``, for a request that has tried a write: there is always one."""
        outcome = self._ask(stored, ours, write, error)
        assert outcome is not None  # only a request that has written nothing may go on
        return outcome


class SendAttemptLog:
    """The send retrier's hook: one log line per failed attempt, and the
    retries counted."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def __call__(self, attempted: Attempted) -> None:
        failure, decision = attempted.failure, attempted.decision
        fields = {
            "attempt": attempted.attempt,
            "code": failure.code,
            "kind": failure.kind.value,
            "error": failure.message,  # the service's wording: logged, never told to the client
            "http_status": failure.http_status,
            "sqs_request_id": failure.request_id,
            "decision": type(decision).__name__,
            "delay_ms": round(decision.delay_s * 1000) if isinstance(decision, Retry) else None,
            "reason": decision.reason.value if isinstance(decision, GiveUp) else None,
        }
        log.warning(
            "send attempt failed", extra={**attempted.about, **{k: v for k, v in fields.items() if v is not None}}
        )
        if isinstance(decision, Retry):
            self._metrics.count("SendRetries")


MOVED = "the job changed while this request ran; try again"


def rerun_refusal(job: Job, now: datetime) -> WrongState | InFlight | None:
    """Why ``job`` cannot be re-run now; None if it can."""
    if job.status not in RERUNNABLE:
        return WrongState(job.job_id, job.status.value, "only a FAILED, CANCELLED or PENDING job is re-run")
    if job.event_due is not None:
        # Its last episode's completion event goes first (normally within
        # moments of the final write; the reconciler's run at worst).
        return InFlight(job.job_id, "the job's last run is still being announced; try again in a moment")
    if job.payload is None:
        return WrongState(job.job_id, job.status.value, "the job was stored before payloads were kept")
    return None


def send_failure(gave_up: GaveUp[SendFailed]) -> SendFailed:
    """A send give-up as the rollback records it: the last failure as SQS
    said it (an ambiguous attempt before it is made harmless by the
    rollback), or a deadline failure if no attempt fitted."""
    return gave_up.last or SendFailed(
        FailureKind.DEADLINE, "DeadlineReached", "no send attempt fits before the deadline"
    )


def _status(job: Job | None) -> str | None:
    return None if job is None else job.status.value


def _fields(job: Job, **more: object) -> dict[str, object]:
    return {
        "correlation_id": job.correlation_id,
        "job_id": job.job_id,
        "enqueue_id": job.enqueue_id,
        **{k: v for k, v in more.items() if v is not None},
    }
