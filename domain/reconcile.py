"""The reconciler: settles jobs that an interrupted invocation, or a
rollback that could not be written, left QUEUED without a confirmed send.

It never undoes a 202: a 202 is only answered after the confirmation write,
which removes the job from what ``find_unconfirmed`` returns, and the
rollback here is conditional on the exact version read, so a confirmation
(or a worker) that lands in between makes it fail harmlessly.

It does not wait for the owning invocation's lease: the grace period is
meant to outlast any invocation, and if it is set shorter, undercutting a
live invocation is still safe. That invocation's next write fails its
condition, it finds the job PENDING, and it answers 503.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import attrs

from domain.failures import StoreFailed, abandoned
from domain.job import Expected, Job
from domain.store_retries import StoreRetries
from ports.repository import ConditionFailed, JobRepository
from ports.runtime import Clock, Metrics

log = logging.getLogger("jobs.reconcile")


@attrs.frozen
class ReconcileReport:
    found: int = 0
    settled: int = 0
    moved_on: int = 0  # confirmed, taken or settled since the index was read
    failed: int = 0  # the store refused; the next run tries again
    out_of_time: int = 0


class ReconcileStuckJobs:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        store: StoreRetries,
        clock: Clock,
        metrics: Metrics,
        grace: timedelta,
        batch_limit: int,
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._grace = grace
        self._batch_limit = batch_limit

    def __call__(self, deadline: datetime) -> ReconcileReport:
        now = self._clock.now()
        stuck = self._jobs.find_unconfirmed(before=now - self._grace, limit=self._batch_limit)
        counts = {"found": len(stuck)}
        for index, job in enumerate(stuck):
            outcome = self._settle(job, deadline) if self._clock.now() < deadline else "out_of_time"
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "out_of_time":
                counts[outcome] += len(stuck) - index - 1
                break
        report = ReconcileReport(**counts)
        self._metrics.count("JobsReconciled", report.settled)
        log.info("reconciler run", extra=attrs.asdict(report))
        return report

    def _settle(self, job: Job, deadline: datetime) -> str:
        now = self._clock.now()
        back = job.rolled_back(error=abandoned(now, "the reconciler"), attempts=0, at=now)
        fields = {"job_id": job.job_id, "enqueue_id": job.enqueue_id, "correlation_id": job.correlation_id}
        try:
            self._store.run(lambda: self._jobs.save(back, Expected.of(job)), deadline)
        except ConditionFailed:
            log.info("stuck job moved on before the reconciler", extra=fields)
            return "moved_on"
        except StoreFailed as exc:
            log.warning("stuck job not settled", extra={**fields, "code": exc.code, "kind": exc.kind.value})
            return "failed"
        log.info("stuck job rolled back to PENDING", extra=fields)
        return "settled"
