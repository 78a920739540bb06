from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.failures import OutsideFailure, Service
from domain.job import Expected, Job, Watch


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

    def find_due(self, watch: Watch, before: datetime, limit: int) -> list[Job]:
        """Up to ``limit`` jobs under ``watch`` whose ``watched_since`` is
        before ``before``, the oldest first. Read from an index that may lag:
        every write made on what it returns must be conditional."""
