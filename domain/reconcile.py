"""The reconciler: settles every job that waits for something that will not
come, found through the jobs' watch index, never a scan.

- Watch.CONFIRMATION: QUEUED with its send unconfirmed past the grace (the
  producer's invocation died, or its rollback could not be written): rolled
  back to PENDING, so any message it sent is stale. Never a 202: a 202 is
  only answered after the confirmation, which moves the job to another
  watch.
- Watch.DELIVERY: QUEUED and confirmed, but no worker took it within the
  queue's retention period, so its message no longer exists (expired,
  purged, or left in the dead-letter queue): FAILED with last_error. The
  payload travels only in the message, so the job cannot be re-driven here.
- Watch.COMPLETION: PROCESSING under a claim that expired more than the
  queue's retention period ago, and no redelivery took it over, so its
  message is gone too: FAILED with last_error.
- Watch.EVENT: final past the grace, its completion event not known to be
  on the bus (the worker died between its final write and the put, or the
  bus failed): the event is put again (``domain.announce``). So is the
  event of every job this run makes FAILED.

Every write is conditional on the exact version read: a confirmation, a
claim or a takeover that lands first makes it fail harmlessly, and the job,
if still stuck in its new version, is found again on a later run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import attrs

from domain.announce import Announce
from domain.budget import Budget
from domain.failures import FailureKind, LastError, abandoned
from domain.job import FINAL, Expected, Job, JobStatus, Watch
from domain.store_retrier import StoreRetrier
from ports.repository import ConditionFailed, JobRepository, StoreFailed
from ports.runtime import Clock, Metrics

log = logging.getLogger("jobs.reconcile")

# The metric counting each watch's settlements (the stack's alarms use these names).
SETTLED_METRIC = {
    Watch.CONFIRMATION: "StuckConfirmationSettled",
    Watch.DELIVERY: "StuckDeliverySettled",
    Watch.COMPLETION: "StuckCompletionSettled",
    Watch.EVENT: "CompletionEventsRepaired",
}


@attrs.frozen
class ReconcileReport:
    found: int = 0
    settled: int = 0
    moved_on: int = 0  # confirmed, taken or settled since the index was read
    failed: int = 0  # the store refused; the next run tries again
    out_of_time: int = 0


@attrs.frozen
class ReconcileSettings:
    # Longer than any invocation, so that a live producer is not undercut.
    grace: timedelta
    # The queue's message retention period: a message is gone after it.
    message_retention: timedelta
    batch_limit: int
    margin: timedelta = timedelta(seconds=2)
    # How long a final job's event may stay unconfirmed before it is put
    # again: longer than a worker's invocation, so as not to race it.
    event_grace: timedelta = timedelta(seconds=300)


class ReconcileStuckJobs:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        store_retrier: StoreRetrier,
        announce: Announce,
        clock: Clock,
        metrics: Metrics,
        settings: ReconcileSettings,
    ) -> None:
        self._jobs = jobs
        self._store = store_retrier
        self._announce = announce
        self._clock = clock
        self._metrics = metrics
        self._settings = settings

    def __call__(self, invocation_end: datetime) -> ReconcileReport:
        # No settlement starts after work_by; the last one may use the margin.
        budget = Budget.ending(invocation_end, self._settings.margin)
        deadline, write_by = budget.work_by, budget.settle_by
        counts = {"found": 0}
        for watch in Watch:
            # Each watch has its own batch: a backlog in one must not starve the others.
            if self._clock.now() >= deadline:
                break
            before = self._clock.now() - self._threshold(watch)
            limit = self._settings.batch_limit
            stuck = self._store.run(lambda: self._jobs.find_due(watch, before, limit), deadline)  # noqa: B023
            counts["found"] += len(stuck)
            for index, job in enumerate(stuck):
                if self._clock.now() >= deadline:
                    # The run ends here: no later watch is read.
                    counts["out_of_time"] = len(stuck) - index
                    break
                outcome = self._settle(job, watch, write_by)
                counts[outcome] = counts.get(outcome, 0) + 1
        report = ReconcileReport(**counts)
        self._metrics.count("JobsReconciled", report.settled)
        log.info("reconciler run", extra=attrs.asdict(report))
        return report

    def _threshold(self, watch: Watch) -> timedelta:
        # A job waiting on its message (to be taken, or taken over once its
        # claim lapsed) is only given up once the message surely is gone.
        if watch is Watch.CONFIRMATION:
            return self._settings.grace
        if watch is Watch.EVENT:
            return self._settings.event_grace
        return self._settings.message_retention

    def _settle(self, job: Job, watch: Watch, write_by: datetime) -> str:
        fields = {
            "job_id": job.job_id,
            "enqueue_id": job.enqueue_id,
            "correlation_id": job.correlation_id,
            "watch": watch.value,
        }
        if watch is Watch.EVENT:
            if not self._announce(job, write_by):
                return "failed"
            log.info("completion event put again", extra=fields)
            self._metrics.count(SETTLED_METRIC[watch])
            return "settled"
        now = self._clock.now()
        settled = _settled(job, watch, now)
        try:
            self._store.run(lambda: self._jobs.save(settled, Expected.of(job)), write_by)
        except ConditionFailed as exc:
            if exc.current != settled:  # else our own ambiguous write landed
                log.info("stuck job moved on before the reconciler", extra=fields)
                return "moved_on"
        except StoreFailed as exc:
            log.warning("stuck job not settled", extra={**fields, "code": exc.code, "kind": exc.kind.value})
            return "failed"
        log.info("stuck job settled", extra={**fields, "status": settled.status.value})
        self._metrics.count(SETTLED_METRIC[watch])
        if settled.status is JobStatus.FAILED:
            self._metrics.count("JobsFailed", job_type=settled.job_type)
        if settled.status in FINAL:
            self._announce(settled, write_by)
        return "settled"


def _settled(job: Job, watch: Watch, now: datetime) -> Job:
    """The state a job stuck under ``watch`` is settled in (its event, for
    ``Watch.EVENT``, is put without a change of state)."""
    match watch:
        case Watch.CONFIRMATION:
            return job.rolled_back(error=abandoned(now, "the reconciler"), attempts=0, at=now)
        case Watch.DELIVERY:
            error = LastError(
                "MessageExpired",
                FailureKind.UNDELIVERED,
                "no worker took the job while its message could still be delivered",
                now,
            )
        case Watch.COMPLETION if job.cancel_requested:
            # Its owner asked it to stop: no worker ran it to an end.
            return job.cancelled(at=now)
        case Watch.COMPLETION:
            error = LastError(
                "ClaimExpired",
                FailureKind.PROCESSING,
                f"the worker holding claim {job.claims} stopped and no delivery took the job over",
                now,
            )
        case Watch.EVENT:
            raise ValueError("a job whose event is due is announced, not settled")
    return job.failed(error=error, at=now)
