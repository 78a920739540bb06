"""Completion events: a final job is announced on the bus, then marked so.

The event is put only once its final state is stored, and the job keeps
``event_due`` (its watch: ``Watch.EVENT``) until the bus took it and that
is stored too. A crash or a failure anywhere in between leaves the mark,
and the reconciler puts the event again: at least once, never for a state
that was not stored.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from domain.job import Expected, Job
from domain.retry import Attempted, GaveUp, GiveUp, Retrier
from domain.store_retrier import StoreRetrier
from ports.events import CompletionEvent, EventBus, EventPutFailed
from ports.repository import ConditionFailed, JobRepository, StoreFailed
from ports.runtime import Metrics

log = logging.getLogger("jobs.events")


class Announce(Protocol):
    """Puts a final job's completion event on the bus; whether it and its
    mark went through."""

    def __call__(self, job: Job, settle_by: datetime) -> bool: ...


class Announcer:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        bus: EventBus,
        store_retrier: StoreRetrier,
        event_retrier: Retrier[EventPutFailed],
        metrics: Metrics,
    ) -> None:
        self._jobs = jobs
        self._bus = bus
        self._store = store_retrier
        self._events = event_retrier
        self._metrics = metrics

    def __call__(self, job: Job, settle_by: datetime) -> bool:
        """Put ``job``'s completion event, then clear its mark; whether both
        went through (if not, the reconciler tries again later)."""
        fields = {"job_id": job.job_id, "correlation_id": job.correlation_id, "status": job.status.value}
        event = CompletionEvent.of(job)
        try:
            self._events.run(lambda: self._bus.put(event), settle_by, fields)
        except GaveUp:
            self._metrics.count("EventPutFailures")
            return False
        announced = job.announced()
        try:
            self._store.run(lambda: self._jobs.save(announced, Expected.of(job)), settle_by)
        except ConditionFailed as exc:
            if exc.current != announced:  # else our own ambiguous write landed
                # Announced by someone else, or moved on: the event was put either way.
                log.info("completion event put; the job had moved on", extra=fields)
        except StoreFailed as exc:
            log.warning("completion event put, not marked; it may be put again", extra={**fields, "code": exc.code})
            return False
        log.info("completion event put", extra=fields)
        return True


def log_event_attempt(attempted: Attempted) -> None:
    """The event retrier's hook: one line per failed put."""
    failure, decision = attempted.failure, attempted.decision
    log.warning(
        "event put failed",
        extra={
            **attempted.about,
            "attempt": attempted.attempt,
            "code": failure.code,
            "kind": failure.kind.value,
            "error": failure.message,
            "decision": type(decision).__name__,
            **({"reason": decision.reason.value} if isinstance(decision, GiveUp) else {}),
        },
    )
