"""Completion events: each job that reaches a final state is announced on
the deployment's event bus, at least once, and only once that state is
stored."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import attrs

from domain.failures import LastError, OutsideFailure, Service
from domain.job import Job, JobStatus

# The event's source; the detail-type names the final state.
SOURCE = "job-intake"
DETAIL_TYPES = {"SUCCEEDED": "Job Succeeded", "FAILED": "Job Failed", "CANCELLED": "Job Cancelled"}


class EventPutFailed(OutsideFailure):
    """The bus did not take the event; ``kind`` says what a retry may do."""

    service = Service.EVENTS


@attrs.frozen
class CompletionEvent:
    """A job's final state, as subscribers read it."""

    job_id: str
    owner: str
    job_type: str
    status: str
    correlation_id: str
    finished_at: datetime
    processing_attempts: int
    # The result as compact JSON (SUCCEEDED), or the failure (FAILED).
    result: str | None = None
    error: LastError | None = None

    @classmethod
    def of(cls, job: Job) -> CompletionEvent:
        return cls(
            job_id=job.job_id,
            owner=job.owner,
            job_type=job.job_type,
            status=job.status.value,
            correlation_id=job.correlation_id,
            finished_at=job.updated_at,
            processing_attempts=job.claims,
            result=job.result,
            error=job.last_error if job.status is JobStatus.FAILED else None,
        )

    @property
    def detail_type(self) -> str:
        return DETAIL_TYPES[self.status]


class EventBus(Protocol):
    """Puts completion events on the deployment's bus. Makes exactly one
    attempt; raises ``EventPutFailed`` with the failure classified."""

    def put(self, event: CompletionEvent) -> None: ...
