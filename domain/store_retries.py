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

from domain.failures import FailureKind, StoreFailed
from domain.retry import RandomSource, Retry, RetryPolicy
from ports.runtime import Clock, Sleeper

log = logging.getLogger("jobs.store")
T = TypeVar("T")


class StoreRetries:
    def __init__(self, policy: RetryPolicy, clock: Clock, sleeper: Sleeper, rng: RandomSource) -> None:
        self._policy = policy
        self._clock = clock
        self._sleeper = sleeper
        self._rng = rng

    def run(self, action: Callable[[], T], deadline: datetime) -> T:
        """Run ``action`` until it succeeds or the policy gives up; return
        what it returns.

        ``AlreadyExists`` and ``ConditionFailed`` pass through at once: they
        are answers, not failures. ``StoreFailed`` is raised when giving up.
        """
        attempt = 0
        maybe_applied = False
        while True:
            if not self._policy.may_start(self._clock.now(), deadline):
                raise _given_up(
                    StoreFailed(FailureKind.DEADLINE, "DeadlineReached", "no store call fits before the deadline"),
                    maybe_applied,
                )
            attempt += 1
            try:
                return action()
            except StoreFailed as exc:
                maybe_applied = maybe_applied or exc.kind is FailureKind.AMBIGUOUS
                decision = self._policy.after_failure(exc.kind, attempt, self._clock.now(), deadline, self._rng)
                log.warning(
                    "store call failed",
                    extra={
                        "attempt": attempt,
                        "code": exc.code,
                        "kind": exc.kind.value,
                        "http_status": exc.http_status,
                        "decision": type(decision).__name__,
                    },
                )
                if not isinstance(decision, Retry):
                    raise _given_up(exc, maybe_applied) from exc
                self._sleeper.sleep(decision.delay_s)


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
