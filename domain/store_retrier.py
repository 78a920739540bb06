"""Retrying calls to the job store on transient failures.

Every write the domain makes is conditional, so repeating an ambiguous one
is safe: if the first landed, the repeat fails its condition and the caller
recognises its own write in the failed condition's item. Reads are safe to
repeat anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from domain.failures import FailureKind
from domain.retry import Attempted, GaveUp, GiveUp, Retrier
from ports.repository import StoreFailed

log = logging.getLogger("jobs.store")
T = TypeVar("T")


class StoreRetrier:
    """The store's retrier: gives up with the one ``StoreFailed`` its
    callers handle (``store_failure``)."""

    def __init__(self, retrier: Retrier[StoreFailed]) -> None:
        self._retrier = retrier

    def run(self, action: Callable[[], T], deadline: datetime) -> T:
        """Run ``action`` until it succeeds or the policy gives up; return
        what it returns.

        ``AlreadyExists`` and ``ConditionFailed`` pass through at once: they
        are answers, not failures. ``StoreFailed`` is raised when giving up.
        """
        try:
            return self._retrier.run(action, deadline)[0]
        except GaveUp as gave_up:
            raise store_failure(gave_up) from gave_up.last


def store_failure(gave_up: GaveUp[StoreFailed]) -> StoreFailed:
    """A store give-up as its callers see it: the last failure (a deadline
    failure if no attempt fitted), AMBIGUOUS if any attempt may have landed,
    whatever the last one said, since the caller must not assume nothing
    was written."""
    last = gave_up.last or StoreFailed(
        FailureKind.DEADLINE, "DeadlineReached", "no store call fits before the deadline"
    )
    if not gave_up.may_have_landed or last.kind is FailureKind.AMBIGUOUS:
        return last
    return StoreFailed(
        FailureKind.AMBIGUOUS,
        last.code,
        f"{last.message} (an earlier attempt may have been applied)",
        http_status=last.http_status,
        request_id=last.request_id,
    )


def log_store_attempt(attempted: Attempted) -> None:
    """The store retrier's hook: one line per failed attempt."""
    failure, decision = attempted.failure, attempted.decision
    log.warning(
        "store call failed",
        extra={
            **attempted.about,
            "attempt": attempted.attempt,
            "code": failure.code,
            "kind": failure.kind.value,
            "error": failure.message,
            "http_status": failure.http_status,
            "decision": type(decision).__name__,
            **({"reason": decision.reason.value} if isinstance(decision, GiveUp) else {}),
        },
    )
