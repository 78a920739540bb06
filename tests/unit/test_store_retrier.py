"""What a store call that gave up reports: a write that may have landed is
never reported as one that surely did not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from domain.failures import FailureKind
from domain.retry import Retrier, RetryPolicy, seeded
from domain.store_retrier import StoreRetrier, log_store_attempt
from ports.repository import StoreFailed
from tests.conftest import Records
from tests.fakes import FakeClock

POLICY = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.01, attempt_timeout_s=1)


def retrier(clock: FakeClock) -> StoreRetrier:
    return StoreRetrier(Retrier(POLICY, clock, clock, seeded(1), retried=StoreFailed, hook=log_store_attempt))


def failing(*failures: StoreFailed) -> tuple[StoreRetrier, Iterator[StoreFailed], FakeClock]:
    clock = FakeClock()
    return retrier(clock), iter(failures), clock


def give_up(*failures: StoreFailed) -> StoreFailed:
    retries, script, clock = failing(*failures)

    def call() -> None:
        raise next(script)

    with pytest.raises(StoreFailed) as caught:
        retries.run(call, clock.now() + timedelta(seconds=10))
    return caught.value


def test_a_throttled_give_up_after_an_ambiguous_attempt_says_the_write_may_have_landed() -> None:
    reported = give_up(
        StoreFailed(FailureKind.AMBIGUOUS, "InternalServerError", "boom", http_status=500, request_id="r1"),
        StoreFailed(FailureKind.THROTTLED, "ThrottlingException", "slow down", http_status=400, request_id="r2"),
    )

    assert reported.kind is FailureKind.AMBIGUOUS
    assert (reported.code, reported.message, reported.http_status, reported.request_id) == (
        "ThrottlingException",
        "slow down (an earlier attempt may have been applied)",
        400,
        "r2",
    )
    assert str(reported) == "ThrottlingException (ambiguous): slow down (an earlier attempt may have been applied)"


def test_a_give_up_where_nothing_may_have_landed_reports_the_last_failure_itself() -> None:
    last = StoreFailed(FailureKind.THROTTLED, "ThrottlingException", "slow down", http_status=400, request_id="r2")

    assert give_up(StoreFailed(FailureKind.THROTTLED, "ThrottlingException", "slow down"), last) is last


def test_a_late_wake_after_an_ambiguous_attempt_reports_it_as_the_send_does() -> None:
    """One give-up: a deadline reached after attempts reports the last of
    them, whether the policy saw it coming or the sleep overran."""

    class LateClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + 5)  # the process woke up late

    clock = LateClock()

    def call() -> None:
        raise StoreFailed(FailureKind.AMBIGUOUS, "InternalServerError", "boom", http_status=500)

    with pytest.raises(StoreFailed) as caught:
        retrier(clock).run(call, clock.now() + timedelta(seconds=3))

    reported = caught.value
    assert (reported.kind, reported.code, reported.message) == (
        FailureKind.AMBIGUOUS,
        "InternalServerError",
        "boom",
    )


def test_no_room_for_an_attempt_is_a_deadline_failure() -> None:
    retries, _, clock = failing()

    with pytest.raises(StoreFailed) as caught:
        retries.run(lambda: None, clock.now() + timedelta(seconds=0.5))

    assert (caught.value.kind, caught.value.code, caught.value.message) == (
        FailureKind.DEADLINE,
        "DeadlineReached",
        "no store call fits before the deadline",
    )


def test_each_failed_attempt_is_logged_with_what_was_decided(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.store")

    give_up(
        StoreFailed(FailureKind.THROTTLED, "ThrottlingException", "slow down", http_status=400),
        StoreFailed(FailureKind.AMBIGUOUS, "InternalServerError", "boom", http_status=500),
    )

    assert log.of("attempt", "code", "kind", "error", "http_status", "decision", "reason") == [
        (
            "WARNING",
            "store call failed",
            {
                "attempt": 1,
                "code": "ThrottlingException",
                "kind": "throttled",
                "error": "slow down",
                "http_status": 400,
                "decision": "Retry",
            },
        ),
        (
            "WARNING",
            "store call failed",
            {
                "attempt": 2,
                "code": "InternalServerError",
                "kind": "ambiguous",
                "error": "boom",
                "http_status": 500,
                "decision": "GiveUp",
                "reason": "attempts exhausted",
            },
        ),
    ]


def test_a_late_wake_after_an_ambiguous_attempt_and_a_throttled_one_may_have_landed() -> None:
    class LateClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + (5 if self.slept else 0))  # the second sleep overruns

    clock = LateClock()
    failures = iter(
        [
            StoreFailed(FailureKind.AMBIGUOUS, "InternalServerError", "boom", http_status=500),
            StoreFailed(FailureKind.THROTTLED, "ThrottlingException", "slow down", http_status=400),
        ]
    )

    def call() -> None:
        raise next(failures)

    policy = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.01, attempt_timeout_s=1)
    store = StoreRetrier(Retrier(policy, clock, clock, seeded(1), retried=StoreFailed, hook=log_store_attempt))
    with pytest.raises(StoreFailed) as caught:
        store.run(call, clock.now() + timedelta(seconds=3))

    reported = caught.value
    assert (reported.kind, reported.code, reported.message) == (
        FailureKind.AMBIGUOUS,
        "ThrottlingException",
        "slow down (an earlier attempt may have been applied)",
    )
