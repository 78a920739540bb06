"""Properties of the retry policy, without I/O: fake time, seeded random."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.failures import FailureKind
from domain.retry import (
    Attempted,
    GaveUp,
    GiveUp,
    GiveUpReason,
    Retrier,
    Retry,
    RetryHook,
    RetryPolicy,
    seeded,
    unheard,
)
from ports.publisher import SendFailed
from tests.fakes import EPOCH, FakeClock, send_failure

policies = st.builds(
    lambda attempts, base, spread, timeout: RetryPolicy(
        max_attempts=attempts, base_delay_s=base, max_delay_s=base + spread, attempt_timeout_s=timeout
    ),
    st.integers(1, 10),
    st.just(0.0) | st.floats(0.001, 2),
    st.floats(0, 5),
    st.floats(0.01, 5),
)
kinds = st.sampled_from(list(FailureKind))


def run(policy: RetryPolicy, failures: list[FailureKind], budget_s: float, seed: int) -> tuple[int, float]:
    """Drive the one retry loop, every attempt failing after its whole
    timeout with the next kind (then succeeding): (attempts, time used)."""
    clock = FakeClock()
    kinds = iter(failures)

    def attempt() -> None:
        clock.advance(policy.attempt_timeout_s)  # worst case: every attempt times out
        for kind in kinds:
            raise send_failure(kind)

    try:
        attempts = Retrier(policy, clock, clock, seeded(seed), retried=SendFailed).run(
            attempt, EPOCH + timedelta(seconds=budget_s)
        )[1]
    except GaveUp as gave_up:
        attempts = gave_up.attempts
    return attempts, (clock.now() - EPOCH).total_seconds()


@given(policies, st.lists(kinds, max_size=30), st.floats(0, 60), st.integers())
def test_attempts_never_exceed_the_limit_and_time_never_passes_the_deadline(
    policy: RetryPolicy, failures: list[FailureKind], budget: float, seed: int
) -> None:
    attempts, used = run(policy, failures, budget, seed)
    assert attempts <= policy.max_attempts
    assert used <= budget + 1e-6


@given(policies, kinds, st.integers(1, 10), st.integers())
def test_only_retryable_kinds_are_retried(policy: RetryPolicy, kind: FailureKind, attempt: int, seed: int) -> None:
    # An hour leaves room for any drawn delay: the deadline never decides here.
    decision = policy.after_failure(kind, attempt, EPOCH, EPOCH + timedelta(hours=1), seeded(seed))
    if not kind.retryable:
        assert decision == GiveUp(GiveUpReason.NOT_RETRYABLE)
    elif attempt >= policy.max_attempts:
        assert decision == GiveUp(GiveUpReason.ATTEMPTS_EXHAUSTED)
    else:
        assert isinstance(decision, Retry)


@given(policies, st.integers(1, 20), st.floats(0, 30), st.integers())
def test_delays_are_full_jitter_under_the_exponential_ceiling_and_fit_the_deadline(
    policy: RetryPolicy, attempt: int, budget_s: float, seed: int
) -> None:
    deadline = EPOCH + timedelta(seconds=budget_s)
    decision = policy.after_failure(FailureKind.THROTTLED, attempt, EPOCH, deadline, seeded(seed))
    # The same draw the policy made, to say which answer was due.
    delay = seeded(seed).uniform(0.0, policy.ceiling_s(attempt))
    if attempt >= policy.max_attempts:
        assert decision == GiveUp(GiveUpReason.ATTEMPTS_EXHAUSTED)
    elif not policy.may_start(EPOCH + timedelta(seconds=delay), deadline):
        assert decision == GiveUp(GiveUpReason.DEADLINE)
    else:
        ceiling = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
        assert decision == Retry(delay) and 0 <= delay <= ceiling


def test_the_same_seed_gives_the_same_delays() -> None:
    policy = RetryPolicy(max_attempts=9, base_delay_s=0.1, max_delay_s=5, attempt_timeout_s=1)

    def delays(seed: int) -> list[float]:
        rng = seeded(seed)
        far = EPOCH + timedelta(days=1)
        return [policy.after_failure(FailureKind.AMBIGUOUS, n, EPOCH, far, rng).delay_s for n in range(1, 9)]  # type: ignore[union-attr]

    assert delays(3) == delays(3)
    assert delays(3) != delays(4)


def test_a_retry_that_cannot_finish_before_the_deadline_is_not_started() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=0, max_delay_s=0, attempt_timeout_s=2)
    decision = policy.after_failure(FailureKind.THROTTLED, 1, EPOCH, EPOCH + timedelta(seconds=1.9), seeded(1))
    assert decision == GiveUp(GiveUpReason.DEADLINE)


def test_a_retry_is_given_up_when_its_delay_would_push_the_attempt_past_the_deadline() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=1, max_delay_s=1, attempt_timeout_s=2)
    delay = seeded(1).uniform(0.0, 1.0)  # the draw after_failure makes with the same source
    deadline = EPOCH + timedelta(seconds=2 + delay / 2)  # room for the attempt, not for the wait too

    assert policy.after_failure(FailureKind.THROTTLED, 1, EPOCH, deadline, seeded(1)) == GiveUp(GiveUpReason.DEADLINE)
    assert policy.after_failure(
        FailureKind.THROTTLED, 1, EPOCH, deadline + timedelta(seconds=delay), seeded(1)
    ) == Retry(delay)


def test_an_attempt_that_would_end_at_the_deadline_may_start() -> None:
    policy = RetryPolicy(max_attempts=1, base_delay_s=0, max_delay_s=0, attempt_timeout_s=2)
    assert policy.may_start(EPOCH, EPOCH + timedelta(seconds=2))
    assert not policy.may_start(EPOCH, EPOCH + timedelta(seconds=1.999))


def test_the_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=9, base_delay_s=0.1, max_delay_s=1.0, attempt_timeout_s=1)

    ceilings = [policy.ceiling_s(attempt) for attempt in range(1, 7)]

    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.ceiling_s(10_000) == 1.0  # held at the cap however many attempts
    assert attrs.evolve(policy, base_delay_s=0.0).ceiling_s(10_000) == 0.0
    assert attrs.evolve(policy, base_delay_s=0.001, max_delay_s=1e300).ceiling_s(10_000) == 1e300


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"base_delay_s": -0.1}, "need 0 <= base_delay_s <= max_delay_s, a finite cap"),
        ({"base_delay_s": 2.0, "max_delay_s": 1.0}, "need 0 <= base_delay_s <= max_delay_s, a finite cap"),
        ({"max_delay_s": float("inf")}, "need 0 <= base_delay_s <= max_delay_s, a finite cap"),
        ({"base_delay_s": 0.0009}, "base_delay_s must be 0 or at least 1 ms"),
        ({"attempt_timeout_s": 0}, "attempt_timeout_s must be positive"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_saying_why(settings: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError) as refused:
        attrs.evolve(RetryPolicy(1, 0.0, 1.0, 1.0), **settings)
    assert str(refused.value) == why


def test_the_least_policy_that_works_is_allowed() -> None:
    assert RetryPolicy(max_attempts=1, base_delay_s=0.0, max_delay_s=0.0, attempt_timeout_s=0.001).max_attempts == 1


class TestRetrier:
    """The one retry loop: every attempt's decision reaches the hook, the
    answer says how many attempts it took, and giving up says why."""

    POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0, attempt_timeout_s=1.0)

    def retrier(self, clock: FakeClock, hook: RetryHook = unheard) -> Retrier[SendFailed]:
        return Retrier(self.POLICY, clock, clock, seeded(1), retried=SendFailed, hook=hook)

    def test_a_call_that_recovers_returns_its_value_and_the_attempts_it_took(self) -> None:
        clock, heard = FakeClock(), list[Attempted]()
        failures = iter([send_failure(FailureKind.THROTTLED), send_failure(FailureKind.AMBIGUOUS)])

        def call() -> str:
            for failure in failures:
                raise failure
            return "done"

        assert self.retrier(clock, heard.append).run(call, clock.now() + timedelta(seconds=30)) == (
            "done",
            3,
        )
        assert [(a.attempt, a.failure.kind, type(a.decision)) for a in heard] == [
            (1, FailureKind.THROTTLED, Retry),
            (2, FailureKind.AMBIGUOUS, Retry),
        ]
        assert clock.slept == [a.decision.delay_s for a in heard if isinstance(a.decision, Retry)]

    @pytest.mark.parametrize(
        ("kind", "reason", "attempts"),
        [
            (FailureKind.PERMANENT, GiveUpReason.NOT_RETRYABLE, 1),
            (FailureKind.THROTTLED, GiveUpReason.ATTEMPTS_EXHAUSTED, 3),
        ],
    )
    def test_giving_up_says_why_after_how_many_attempts_with_the_last_failure(
        self, kind: FailureKind, reason: GiveUpReason, attempts: int
    ) -> None:
        clock, heard = FakeClock(), list[Attempted]()
        failure = send_failure(kind)

        def call() -> None:
            raise failure

        with pytest.raises(GaveUp) as caught:
            self.retrier(clock, heard.append).run(call, clock.now() + timedelta(seconds=30))

        gave_up = caught.value
        assert (gave_up.last, gave_up.attempts, gave_up.reason, gave_up.may_have_landed) == (
            failure,
            attempts,
            reason,
            False,
        )
        assert heard[-1].decision == GiveUp(reason) and len(heard) == attempts

    def test_a_deadline_with_no_room_for_an_attempt_calls_nothing(self) -> None:
        clock = FakeClock()

        with pytest.raises(GaveUp) as caught:
            self.retrier(clock).run(lambda: "never", clock.now() + timedelta(seconds=0.5))

        assert (caught.value.last, caught.value.attempts, caught.value.reason) == (None, 0, GiveUpReason.DEADLINE)

    @pytest.mark.parametrize(
        ("kinds", "may_have_landed"),
        [
            ([FailureKind.THROTTLED, FailureKind.NOT_SENT, FailureKind.THROTTLED], False),
            ([FailureKind.AMBIGUOUS, FailureKind.THROTTLED, FailureKind.NOT_SENT], True),
            ([FailureKind.THROTTLED, FailureKind.AMBIGUOUS, FailureKind.PERMANENT], True),
        ],
    )
    def test_a_give_up_says_whether_any_attempt_may_have_landed(
        self, kinds: list[FailureKind], may_have_landed: bool
    ) -> None:
        clock, failures = FakeClock(), iter(kinds)

        def call() -> None:
            raise send_failure(next(failures))

        with pytest.raises(GaveUp) as caught:
            self.retrier(clock).run(call, clock.now() + timedelta(seconds=30))

        assert caught.value.last is not None and caught.value.last.kind is kinds[-1]
        assert caught.value.may_have_landed is may_have_landed

    def test_the_hook_hears_what_the_call_is_about(self) -> None:
        clock, heard = FakeClock(), list[Attempted]()
        failures = iter([send_failure(FailureKind.THROTTLED)])

        def call() -> str:
            for failure in failures:
                raise failure
            return "done"

        self.retrier(clock, heard.append).run(call, clock.now() + timedelta(seconds=30), {"job_id": "j1"})

        assert [a.about for a in heard] == [{"job_id": "j1"}]

    def test_other_exceptions_pass_through_at_once(self) -> None:
        clock = FakeClock()

        def call() -> None:
            raise KeyError("an answer, not a failure")

        with pytest.raises(KeyError):
            self.retrier(clock).run(call, clock.now() + timedelta(seconds=30))
        assert clock.slept == []


def test_a_sleep_that_ends_too_late_for_the_next_attempt_is_told_to_the_hook() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=1.0, max_delay_s=1.0, attempt_timeout_s=1.0)

    class LateClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + 5)  # the process woke up late

    clock, heard = LateClock(), list[Attempted]()

    def call() -> None:
        raise send_failure(FailureKind.THROTTLED)

    with pytest.raises(GaveUp) as caught:
        Retrier(policy, clock, clock, seeded(1), retried=SendFailed, hook=heard.append).run(
            call, clock.now() + timedelta(seconds=4), {"job_id": "j1"}
        )

    assert [(a.attempt, type(a.decision).__name__) for a in heard] == [(1, "Retry"), (1, "GiveUp")]
    assert heard[-1].decision == GiveUp(GiveUpReason.DEADLINE) and caught.value.reason is GiveUpReason.DEADLINE
    assert heard[-1].failure is heard[0].failure is caught.value.last  # the failure the give-up is about
    assert heard[-1].about == {"job_id": "j1"}
    assert str(caught.value) == "gave up: deadline (attempts made: 1)"
