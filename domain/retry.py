"""When to try again: attempts, full-jitter backoff, and the deadline.

Pure: the caller passes the time and a random source, so the policy can be
tested without I/O, with a fake clock and a seeded ``random.Random``.

The ``backoff`` package is not used: its decorators sleep with
``time.sleep`` and draw from the global random source, and neither the
Lambda deadline nor a seeded test can reach into them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from domain.failures import FailureKind


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


@attrs.frozen
class Retry:
    delay_s: float


@attrs.frozen
class GiveUp:
    reason: str  # "not retryable" | "attempts exhausted" | "deadline"


Decision = Retry | GiveUp


@attrs.frozen
class RetryPolicy:
    max_attempts: int
    base_delay_s: float
    max_delay_s: float
    # The longest one attempt can take (connect + read timeouts): an attempt
    # is only started if it can finish before the deadline.
    attempt_timeout_s: float

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.base_delay_s <= self.max_delay_s:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s")
        if self.attempt_timeout_s <= 0:
            raise ValueError("attempt_timeout_s must be positive")

    def may_start(self, now: datetime, deadline: datetime) -> bool:
        return now + timedelta(seconds=self.attempt_timeout_s) <= deadline

    def ceiling_s(self, attempt: int) -> float:
        """The backoff cap after the given (1-based) failed attempt."""
        # Capped exponent: 2**attempt overflows float well before this matters.
        return min(self.max_delay_s, self.base_delay_s * float(2 ** min(attempt - 1, 62)))

    def after_failure(
        self,
        kind: FailureKind,
        attempt: int,
        now: datetime,
        deadline: datetime,
        rng: RandomSource,
    ) -> Decision:
        if not kind.retryable:
            return GiveUp("not retryable")
        if attempt >= self.max_attempts:
            return GiveUp("attempts exhausted")
        delay = rng.uniform(0.0, self.ceiling_s(attempt))
        if not self.may_start(now + timedelta(seconds=delay), deadline):
            return GiveUp("deadline")
        return Retry(delay)


def seeded(seed: int) -> random.Random:
    """A reproducible random source (tests and the chaos run)."""
    return random.Random(seed)
