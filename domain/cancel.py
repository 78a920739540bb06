"""Cancelling a job, on its owner's request.

- PENDING, or QUEUED: CANCELLED at once, final, announced like any end.
  Every message of the job is then stale (its job is final), and the
  worker that receives one drops it.
- QUEUED and unconfirmed while its producer's lease runs: the request that
  submitted it is still deciding its answer; the cancel is refused as in
  flight (409, try again) and never races the producer's confirmation or
  rollback. Once the lease is over the producer writes nothing more, and
  the job is cancelled like any QUEUED one.
- PROCESSING: marked ``cancel_requested``. The claim stays; the handler
  can see the mark (``JobContext.cancel_requested``) and stop (the job
  ends CANCELLED), or finish (it ends as the handler left it). A handler
  that fails is not retried: the job ends CANCELLED. A claim that expires
  with the mark set is cancelled, never run again.
- CANCELLED: answered again, nothing written (a retried cancel).
- SUCCEEDED or FAILED: refused with its status.

Every write is conditional on the version read; a failed condition is
judged again on what it showed, as the worker does.
"""

from __future__ import annotations

import logging
from datetime import datetime

import attrs

from domain.announce import Announce
from domain.budget import Budget
from domain.enqueue import MOVED, EnqueueSettings
from domain.failures import FailureKind
from domain.job import Expected, Job, JobStatus
from domain.outcomes import Failed, InFlight, NotFound, Unavailable, Unsettled, WrongState
from domain.store_retrier import StoreRetrier
from ports.repository import ConditionFailed, JobRepository, StoreFailed
from ports.runtime import Clock, Metrics

log = logging.getLogger("jobs.cancel")

# How many writes in a row a cancel may lose to other actors before it
# answers in flight.
MAX_TURNS = 3


@attrs.frozen
class Cancelled:
    """The job is CANCELLED (200)."""

    job: Job


@attrs.frozen
class CancelRequested:
    """The job is PROCESSING and its handler is asked to stop (202)."""

    job: Job


CancelOutcome = Cancelled | CancelRequested | NotFound | WrongState | InFlight | Unavailable | Failed | Unsettled


class CancelJob:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        store_retrier: StoreRetrier,
        announce: Announce,
        clock: Clock,
        metrics: Metrics,
        settings: EnqueueSettings,
    ) -> None:
        self._jobs = jobs
        self._store = store_retrier
        self._announce = announce
        self._clock = clock
        self._metrics = metrics
        self._settings = settings

    def __call__(self, job_id: str, caller: str, deadline: datetime) -> CancelOutcome:
        budget = Budget.ending(deadline, self._settings.deadline_margin)
        try:
            job = self._store.run(lambda: self._jobs.get(job_id), budget.settle_by)
        except StoreFailed as exc:
            return self._failed(job_id, exc)
        for _ in range(MAX_TURNS):
            if job is None or not job.visible_to(caller):
                return NotFound(job_id)
            move = self._next_move(job)
            if not isinstance(move, Job):
                return move
            expected = Expected.of(job)
            try:
                self._store.run(lambda: self._jobs.save(move, expected), budget.settle_by)  # noqa: B023
            except ConditionFailed as exc:
                if exc.current != move:  # else our own ambiguous write landed
                    job = exc.current
                    continue
            except StoreFailed as exc:
                return self._failed(job_id, exc)
            fields = {"job_id": job_id, "enqueue_id": move.enqueue_id, "previous_status": job.status.value}
            if move.status is JobStatus.CANCELLED:
                log.info("job cancelled", extra=fields)
                self._metrics.count("JobsCancelled", job_type=move.job_type)
                self._announce(move, budget.settle_by)  # a failed put is the reconciler's to repeat
                return Cancelled(move)
            log.info("job asked to stop", extra=fields)
            return CancelRequested(move)
        log.warning("job kept moving; cancel not written", extra={"job_id": job_id})
        return InFlight(job_id, MOVED)

    def _next_move(self, job: Job) -> Job | Cancelled | CancelRequested | WrongState | InFlight:
        """The write this cancel makes of ``job``, or its answer."""
        now = self._clock.now()
        match job.status:
            case JobStatus.CANCELLED:
                return Cancelled(job)
            case JobStatus.SUCCEEDED | JobStatus.FAILED:
                return WrongState(job.job_id, job.status.value, "a final job is not cancelled")
            case JobStatus.PROCESSING:
                return CancelRequested(job) if job.cancel_requested else job.cancel_asked(at=now)
            case JobStatus.QUEUED if job.awaiting_confirmation and not job.lease_expired(now):
                return InFlight(job.job_id, "the request that submitted the job is still answering; try again")
        return job.cancelled(at=now)

    def _failed(self, job_id: str, exc: StoreFailed) -> Unavailable | Failed | Unsettled:
        """The answer when the store failed the cancel: it may have landed
        (a cancel is safe to repeat), it surely did not, or it never will."""
        error = exc.as_last_error(self._clock.now())
        if exc.kind is FailureKind.AMBIGUOUS:
            return Unsettled(job_id, error)
        if not exc.kind.retryable:
            return Failed(job_id, error)
        return Unavailable(job_id, error, self._settings.retry_after.of(error))
