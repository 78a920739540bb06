"""Time, waiting, identifiers and counters: the ambient services."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class Sleeper(Protocol):
    def sleep(self, seconds: float) -> None: ...


class IdSource(Protocol):
    def new_job_id(self) -> str: ...

    def job_id_for_key(self, caller: str, idempotency_key: str) -> str:
        """The same id for the same caller and key, every time; another
        caller's same key gives another id, and no caller can work out the
        id of another's key."""

    def other_job_id_for_key(self, caller: str, idempotency_key: str) -> str | None:
        """While the key ids are made with is being rotated: the id the
        same caller and key have under the rotation's other key (the next
        one, or the previous one). None when no rotation is under way."""

    def new_enqueue_id(self) -> str: ...

    def new_claim_id(self) -> str: ...


class Metrics(Protocol):
    def count(self, name: str, value: int = 1, *, job_type: str | None = None) -> None:
        """Add ``value`` to the counter ``name``; with ``job_type``, to its
        count for that type of job as well."""

    def flush(self) -> None:
        """Write what was counted (once per invocation, by its entrypoint)."""
