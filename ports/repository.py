from __future__ import annotations

from datetime import datetime
from typing import Protocol

import attrs

from domain.failures import LastError, OutsideFailure, Service
from domain.job import Expected, Job, JobStatus, Watch


class StoreFailed(OutsideFailure):
    """The store did not answer a read or a write; ``kind`` says whether the
    write may have landed (AMBIGUOUS) and what a retry may do."""

    service = Service.STORE


class AlreadyExists(Exception):
    """``create`` found a job under that id; ``existing`` is what is stored."""

    def __init__(self, existing: Job) -> None:
        super().__init__(f"job {existing.job_id} already exists")
        self.existing = existing


class ConditionFailed(Exception):
    """A conditional write found the job not in the expected state.

    ``current`` is the stored job as the failed write saw it, in the same
    call (no read after it), or None if there is none.
    """

    def __init__(self, job_id: str, current: Job | None) -> None:
        super().__init__(f"job {job_id} is not in the expected state")
        self.current = current


@attrs.frozen
class JobSummary:
    """A job as its owner's list shows it: no payload, no result."""

    job_id: str
    job_type: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    attempts: int
    claims: int
    last_error: LastError | None
    cancel_requested: bool

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        return cls(
            job.job_id,
            job.job_type,
            job.status,
            job.created_at,
            job.updated_at,
            job.attempts,
            job.claims,
            job.last_error,
            job.cancel_requested,
        )


# Where a page of a caller's jobs ends: the last job's (created_at, job_id).
Position = tuple[datetime, str]


@attrs.frozen
class Page:
    jobs: list[JobSummary]
    # Where the next page starts; None after the last.
    next: Position | None


class JobRepository(Protocol):
    """Jobs by id. Every write is conditional; none needs a read first.
    A settled job past its ``Retention`` is absent: ``get`` answers None and
    ``create`` may take its id again.

    Raises ``StoreFailed`` when the store cannot answer.
    """

    def create(self, job: Job, unless_taken: str | None = None) -> None:
        """Store a new job; ``AlreadyExists`` if its id is taken, or if the
        id ``unless_taken`` is (then ``existing`` is the job under it). The
        check and the write are one atomic step."""

    def save(self, job: Job, expected: Expected) -> None:
        """Replace the stored job with ``job`` if it is still ``expected``;
        otherwise ``ConditionFailed``."""

    def get(self, job_id: str) -> Job | None: ...

    def list_owned(self, owner: str, status: JobStatus | None, limit: int, after: Position | None) -> Page:
        """Up to ``limit`` of ``owner``'s jobs, newest first, only those in
        ``status`` if given, starting after ``after``. Read from an index
        keyed by owner, which may lag the jobs by a moment."""

    def find_due(self, watch: Watch, before: datetime, limit: int) -> list[Job]:
        """Up to ``limit`` jobs under ``watch`` whose ``watched_since`` is
        before ``before``, the oldest first. Read from an index that may lag:
        every write made on what it returns must be conditional."""
