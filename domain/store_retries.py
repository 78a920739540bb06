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
from domain.retry import Attempted, GaveUp, GiveUp, RandomSource, Retrier, RetryPolicy
from ports.repository import StoreFailed
from ports.runtime import Clock, Sleeper

log = logging.getLogger("jobs.store")
T = TypeVar("T")


class StoreRetries:
    def __init__(self, policy: RetryPolicy, clock: Clock, sleeper: Sleeper, rng: RandomSource) -> None:
        self._retrier = Retrier(policy, clock, sleeper, rng)

    def run(self, action: Callable[[], T], deadline: datetime) -> T:
        """Run ``action`` until it succeeds or the policy gives up; return
        what it returns.

        ``AlreadyExists`` and ``ConditionFailed`` pass through at once: they
        are answers, not failures. ``StoreFailed`` is raised when giving up.
        """
        kinds: list[FailureKind] = []

        def heard(attempted: Attempted) -> None:
            failure = attempted.failure
            kinds.append(failure.kind)
            log.warning(
                "store call failed",
                extra={
                    "attempt": attempted.attempt,
                    "code": failure.code,
                    "kind": failure.kind.value,
                    "http_status": failure.http_status,
                    "decision": type(attempted.decision).__name__,
                    **({"reason": attempted.decision.reason} if isinstance(attempted.decision, GiveUp) else {}),
                },
            )

        try:
            return self._retrier.run(action, deadline, StoreFailed, heard)[0]
        except GaveUp as gave_up:
            maybe_applied = FailureKind.AMBIGUOUS in kinds
            last = gave_up.last
            if gave_up.started and isinstance(last, StoreFailed):
                raise _given_up(last, maybe_applied) from last
            deadline_reached = StoreFailed(
                FailureKind.DEADLINE, "DeadlineReached", "no store call fits before the deadline"
            )
            raise _given_up(deadline_reached, maybe_applied) from last


def _given_up(last: StoreFailed, maybe_applied: bool) -> StoreFailed:
    """The failure to report: AMBIGUOUS if any attempt may have landed,
    whatever the last one said, since the caller must not assume nothing
    was written."""
    if not maybe_applied or last.kind is FailureKind.AMBIGUOUS:
        return last
    return StoreFailed(
        FailureKind.AMBIGUOUS,
        last.code,
        f"{last.message} (an earlier attempt may have been applied)",
        http_status=last.http_status,
        request_id=last.request_id,
    )
