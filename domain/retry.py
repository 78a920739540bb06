"""When to try again: attempts, full-jitter backoff, and the deadline.

Pure: the caller passes the time and a random source, so the policy can be
tested without I/O, with a fake clock and a seeded ``random.Random``.

The schedule is ``backoff.expo``'s; ``backoff`` does not run the loop: its
decorators sleep with ``time.sleep`` and read the wall clock, and neither
the Lambda deadline nor a simulated clock can reach into them.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import attrs
import backoff

from domain.failures import FailureKind, OutsideFailure
from ports.runtime import Clock, Sleeper


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


@attrs.frozen
class Retry:
    delay_s: float


@attrs.frozen
class GiveUp:
    reason: str  # "not retryable" | "attempts exhausted" | "deadline"


Decision = Retry | GiveUp


# The settings are whole milliseconds.
LEAST_BASE_DELAY_S = 0.001


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
        if not 0 <= self.base_delay_s <= self.max_delay_s < math.inf:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s, a finite cap")
        if 0 < self.base_delay_s < LEAST_BASE_DELAY_S:
            # The settings' unit. From a subnormal base, the doubling would
            # leave float's range before it got to the cap.
            raise ValueError("base_delay_s must be 0 or at least 1 ms")
        if self.attempt_timeout_s <= 0:
            raise ValueError("attempt_timeout_s must be positive")

    def may_start(self, now: datetime, deadline: datetime) -> bool:
        return now + timedelta(seconds=self.attempt_timeout_s) <= deadline

    def ceiling_s(self, attempt: int) -> float:
        """The backoff cap after the given (1-based) failed attempt: the
        attempt-th wait of ``backoff.expo``, which doubles from the base and
        stays at the cap once it gets there."""
        if self.base_delay_s == 0:
            return 0.0  # zero never gets to the cap: its doubling would overflow
        waits = backoff.expo(factor=self.base_delay_s, max_value=self.max_delay_s)
        return float(next(itertools.islice(waits, attempt, None)))  # wait 0 only primes the generator

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


@attrs.frozen
class Attempted:
    """One failed attempt, as a retrier's hook hears it: the attempt's
    number, its failure, and what the policy decided (a ``Retry`` with its
    delay, or a ``GiveUp`` with its reason)."""

    attempt: int
    failure: OutsideFailure
    decision: Decision


class GaveUp(Exception):
    """No attempt succeeded. ``last`` is the last failure; ``started`` is
    False when the deadline left no room for another attempt, and then
    ``last`` is None if none had been made at all."""

    def __init__(self, last: OutsideFailure | None, attempts: int, reason: str, *, started: bool) -> None:
        super().__init__(f"gave up: {reason} (attempts made: {attempts})")
        self.last = last
        self.attempts = attempts
        self.reason = reason
        self.started = started


F = TypeVar("F", bound=OutsideFailure)
T = TypeVar("T")


def _unheard(attempted: Attempted) -> None:
    pass


class Retrier:
    """Calls an action until it succeeds or the policy gives up: owns the
    attempts, the jittered delay, the deadline and the sleep. Logs and
    counters subscribe through the hook; the clock, the sleep and the
    random source are the caller's, so tests and the simulation drive them."""

    def __init__(self, policy: RetryPolicy, clock: Clock, sleeper: Sleeper, rng: RandomSource) -> None:
        self.policy = policy
        self._clock = clock
        self._sleeper = sleeper
        self._rng = rng

    def run(
        self,
        action: Callable[[], T],
        deadline: datetime,
        failure: type[F],
        hook: Callable[[Attempted], None] = _unheard,
    ) -> tuple[T, int]:
        """What ``action`` returned and the attempts it took; ``GaveUp``
        otherwise. Only ``failure`` is retried: anything else is an answer
        (a failed condition) or a bug, and passes through at once."""
        attempt, last = 0, None
        while self.policy.may_start(self._clock.now(), deadline):
            attempt += 1
            try:
                return action(), attempt
            except failure as exc:
                last = exc
                decision = self.policy.after_failure(exc.kind, attempt, self._clock.now(), deadline, self._rng)
                hook(Attempted(attempt, exc, decision))
                if isinstance(decision, GiveUp):
                    raise GaveUp(exc, attempt, decision.reason, started=True) from exc
                self._sleeper.sleep(decision.delay_s)
        if last is not None:
            # The sleep ended later than planned: the hook hears why the
            # retry it was told of never came.
            hook(Attempted(attempt, last, GiveUp("deadline")))
        raise GaveUp(last, attempt, "deadline", started=False)


def seeded(seed: int) -> random.Random:
    """A reproducible random source (tests and the chaos run)."""
    return random.Random(seed)
