"""When to try again: attempts, full-jitter backoff, and the deadline.

Pure: the caller passes the time and a random source, so the policy can be
tested without I/O, with a fake clock and a seeded ``random.Random``.

The schedule is ``backoff.expo``'s; ``backoff`` does not run the loop: its
decorators sleep with ``time.sleep`` and read the wall clock, and neither
the Lambda deadline nor a simulated clock can reach into them.
"""

from __future__ import annotations

import enum
import itertools
import math
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

import attrs
import backoff

from domain.failures import FailureKind, OutsideFailure
from ports.runtime import Clock, Sleeper


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


@attrs.frozen
class Retry:
    delay_s: float


class GiveUpReason(enum.StrEnum):
    NOT_RETRYABLE = "not retryable"
    ATTEMPTS_EXHAUSTED = "attempts exhausted"
    DEADLINE = "deadline"


@attrs.frozen
class GiveUp:
    reason: GiveUpReason


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
            return GiveUp(GiveUpReason.NOT_RETRYABLE)
        if attempt >= self.max_attempts:
            return GiveUp(GiveUpReason.ATTEMPTS_EXHAUSTED)
        delay = rng.uniform(0.0, self.ceiling_s(attempt))
        if not self.may_start(now + timedelta(seconds=delay), deadline):
            return GiveUp(GiveUpReason.DEADLINE)
        return Retry(delay)


@attrs.frozen
class Attempted:
    """One failed attempt, as a retrier's hook hears it: the attempt's
    number, its failure, what the policy decided (a ``Retry`` with its
    delay, or a ``GiveUp`` with its reason), and what the caller said the
    call is about (the ids a log line needs)."""

    attempt: int
    failure: OutsideFailure
    decision: Decision
    about: Mapping[str, object] = attrs.field(factory=dict)


RetryHook = Callable[[Attempted], None]


def unheard(attempted: Attempted) -> None:
    """The hook of a retrier nobody listens to."""


F = TypeVar("F", bound=OutsideFailure)
T = TypeVar("T")


class GaveUp(Exception, Generic[F]):
    """No attempt succeeded: why, after how many attempts, the last failure
    (None when the deadline left room for no attempt at all), and whether
    any attempt may have been applied (one ended ambiguous), whatever the
    last one said."""

    def __init__(self, reason: GiveUpReason, attempts: int, last: F | None, *, may_have_landed: bool) -> None:
        super().__init__(f"gave up: {reason} (attempts made: {attempts})")
        self.reason = reason
        self.attempts = attempts
        self.last = last
        self.may_have_landed = may_have_landed


class Retrier(Generic[F]):
    """Calls an action until it succeeds or the policy gives up: owns the
    attempts, the jittered delay, the deadline and the sleep. Only
    ``retried`` failures are retried; logs and counters subscribe through
    the hook. The clock, the sleep and the random source are the caller's,
    so tests and the simulation drive them."""

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Clock,
        sleeper: Sleeper,
        rng: RandomSource,
        *,
        retried: type[F],
        hook: RetryHook = unheard,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._sleeper = sleeper
        self._rng = rng
        self._retried = retried
        self._hook = hook

    def run(
        self, action: Callable[[], T], deadline: datetime, about: Mapping[str, object] | None = None
    ) -> tuple[T, int]:
        """What ``action`` returned and the attempts it took; ``GaveUp``
        otherwise. Anything but a ``retried`` failure is an answer (a failed
        condition) or a bug, and passes through at once."""
        about = about or {}
        attempt, last, may_have_landed = 0, None, False
        while self.policy.may_start(self._clock.now(), deadline):
            attempt += 1
            try:
                return action(), attempt
            except self._retried as exc:
                last = exc
                may_have_landed = may_have_landed or exc.kind is FailureKind.AMBIGUOUS
                decision = self.policy.after_failure(exc.kind, attempt, self._clock.now(), deadline, self._rng)
                self._hook(Attempted(attempt, exc, decision, about))
                if isinstance(decision, GiveUp):
                    raise GaveUp(decision.reason, attempt, exc, may_have_landed=may_have_landed) from exc
                self._sleeper.sleep(decision.delay_s)
        if last is not None:
            # The sleep ended later than planned: the hook hears why the
            # retry it was told of never came.
            self._hook(Attempted(attempt, last, GiveUp(GiveUpReason.DEADLINE), about))
        raise GaveUp(GiveUpReason.DEADLINE, attempt, last, may_have_landed=may_have_landed)


def seeded(seed: int) -> random.Random:
    """A reproducible random source (tests and the chaos run)."""
    return random.Random(seed)
