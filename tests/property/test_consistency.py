"""Invariants I1-I6 of the brief under every failure, as a hypothesis
stateful test over the in-memory fakes.

Rules: submissions (with and without Idempotency-Keys, same and different
bodies) meeting any send fault of the classification table, DynamoDB faults
on every write (the rollback included), sends delivered whose answer is
lost, crashes of an invocation before or after any AWS call; worker
deliveries of any message in any order, duplicates included, with store
faults; reconciler runs; clock advances. The invariants are checked after
every step where they apply, and at quiescence (clock far ahead, reconciler
run, every message delivered).

CONSISTENCY_EXAMPLES sets the number of examples (200 by default; `make
test-long` runs thousands).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chaos.faults import Crash
from domain.failures import FailureKind, OutsideFailure
from domain.job import TAKEN, Job, JobStatus
from domain.outcomes import Accepted, ContentRejected, Failed, InFlight, KeyReused, Outcome, Unavailable
from domain.retry import RetryPolicy
from domain.submission import Submission
from domain.work import IncomingMessage
from tests.fakes import Lost, OnFakes, Step
from tests.fakes import send_failure as send
from tests.fakes import store_failure as store
from tests.property.stats import STATS

EXAMPLES = int(os.environ.get("CONSISTENCY_EXAMPLES", "200"))
GRACE = timedelta(seconds=300)


SEND_FAULTS: list[Step] = [
    None,
    send(FailureKind.THROTTLED, "RequestThrottled", 400),
    send(FailureKind.THROTTLED, "KmsThrottled", 400),
    send(FailureKind.AMBIGUOUS, "ServiceUnavailable", 503),
    send(FailureKind.NOT_SENT, "EndpointConnectionError"),
    send(FailureKind.AMBIGUOUS, "ReadTimeoutError"),
    Lost(send(FailureKind.AMBIGUOUS, "ReadTimeoutError")),
    send(FailureKind.PERMANENT, "AWS.SimpleQueueService.NonExistentQueue", 400),
    send(FailureKind.PERMANENT, "KmsAccessDenied", 400),
]
STORE_FAULTS: list[Step] = [
    None,
    store(FailureKind.THROTTLED, "ProvisionedThroughputExceededException"),
    store(FailureKind.AMBIGUOUS, "InternalServerError"),
    Lost(store(FailureKind.AMBIGUOUS, "ReadTimeoutError")),
    store(FailureKind.NOT_SENT, "EndpointConnectionError"),
]
crashes = st.none() | st.tuples(st.sampled_from(["create", "save", "publish"]), st.integers(0, 4), st.booleans())


def label(step: Step) -> str:
    if isinstance(step, Lost):
        return f"lost answer ({label(step.failure)})" if not isinstance(step.failure, Crash) else "crash after call"
    if isinstance(step, Crash):
        return "crash before call"
    if isinstance(step, OutsideFailure):
        return f"{type(step).__name__}:{step.kind.value}"
    return type(step).__name__


class Consistency(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        fakes = OnFakes(
            send_policy=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.1, attempt_timeout_s=3),
            store_policy=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.1, attempt_timeout_s=1.5),
            seed=0,
        )
        self.clock, self.jobs, self.queue, self.ids = fakes.clock, fakes.jobs, fakes.queue, fakes.ids
        self.enqueue = fakes.enqueue()
        self.reconcile = fakes.reconciler(GRACE, batch_limit=5)
        self.work = fakes.worker(self._step)
        self.acked: set[int] = set()
        self.processed: Counter[str] = Counter()
        # What the outside world was last told about each job; None after a
        # crash (nobody was told anything).
        self.told: dict[str, Outcome | None] = {}
        STATS["examples"] += 1

    # -- rules -------------------------------------------------------------

    @rule(
        key=st.sampled_from([None, "k1", "k2"]),
        payload=st.sampled_from([{"n": 1}, {"n": 2}]),
        sends=st.lists(st.sampled_from(SEND_FAULTS), max_size=4),
        creates=st.lists(st.sampled_from(STORE_FAULTS), max_size=3),
        saves=st.lists(st.sampled_from(STORE_FAULTS), max_size=4),
        crash=crashes,
    )
    def submit(
        self,
        key: str | None,
        payload: dict[str, Any],
        sends: list[Step],
        creates: list[Step],
        saves: list[Step],
        crash: tuple[str, int, bool] | None,
    ) -> None:
        scripts = {"publish": list(sends), "create": list(creates), "save": list(saves)}
        if crash is not None:
            operation, nth, after = crash
            script = scripts[operation]
            script[nth:] = [Lost(Crash()) if after else Crash()]
            script[:nth] = script[:nth] + [None] * (nth - len(script[:nth]))
        self.queue.fail(*scripts["publish"])
        self.jobs.fail("create", *scripts["create"])
        self.jobs.fail("save", *scripts["save"])
        before = (dict(self.jobs.jobs), len(self.queue.sent))
        known = set(self.jobs.jobs)
        submission = Submission(job_type="t", payload=payload, correlation_id="c", idempotency_key=key)
        try:
            outcome: Outcome | None = self.enqueue(submission, self.clock.now() + timedelta(seconds=30))
        except Crash:
            outcome = None
            STATS["crashes"] += 1
        finally:
            self._count_faults()
        STATS["submissions"] += 1
        if outcome is None:
            touched = (set(self.jobs.jobs) - known) | ({self.ids.job_id_for_key(key)} if key else set())
            for job_id in touched:
                self.told[job_id] = None
            return
        STATS[f"answer {type(outcome).__name__}"] += 1
        if isinstance(outcome, InFlight | KeyReused):
            # I4: a 4xx wrote nothing.
            assert (dict(self.jobs.jobs), len(self.queue.sent)) == before
            return
        assert not isinstance(outcome, ContentRejected)  # no content faults are injected
        if outcome.job_id is None:  # nothing was recorded: no job to check
            assert len(self.jobs.jobs) == len(before[0])
            return
        self.told[outcome.job_id] = outcome
        self._check_answer(outcome.job_id)

    @precondition(lambda self: self.queue.sent)
    @rule(
        pick=st.integers(0, 10_000),
        gets=st.lists(st.sampled_from(STORE_FAULTS), max_size=2),
        saves=st.lists(st.sampled_from(STORE_FAULTS), max_size=3),
    )
    def deliver(self, pick: int, gets: list[Step], saves: list[Step]) -> None:
        """SQS hands a worker any message: reordered, duplicated, or even one
        already deleted (at-least-once delivery)."""
        index = pick % len(self.queue.sent)
        sent = self.queue.sent[index]
        self.jobs.fail("get", *gets)
        self.jobs.fail("save", *saves)
        message = IncomingMessage(job_id=sent.job_id, enqueue_id=sent.enqueue_id, payload={}, correlation_id="c")
        try:
            result = self.work(message, self.clock.now() + timedelta(seconds=30))
        except OutsideFailure:
            STATS["deliveries left for redelivery"] += 1
        else:
            self.acked.add(index)
            STATS[f"delivery {result.value}"] += 1
        finally:
            self._count_faults()

    @rule()
    def run_reconciler(self) -> None:
        report = self.reconcile(self.clock.now() + timedelta(seconds=60))
        STATS["settled by the reconciler"] += report.settled

    @rule(seconds=st.sampled_from([1, 10, 40, 400]))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # -- invariants --------------------------------------------------------

    @invariant()
    def answers_stay_true(self) -> None:
        for job_id in self.told:
            self._check_answer(job_id)

    @invariant()
    def no_job_is_processed_twice(self) -> None:
        assert all(count <= 1 for count in self.processed.values()), self.processed

    def teardown(self) -> None:
        """Quiescence: every invocation over, the reconciler done, every
        message delivered. Then I1-I6 in their final form."""
        self.jobs.forget_faults()
        self.queue.forget_faults()
        self.clock.advance(10 * GRACE.total_seconds())
        while self.reconcile(self.clock.now() + timedelta(seconds=60)).found:
            pass
        for index, sent in enumerate(list(self.queue.sent)):
            message = IncomingMessage(job_id=sent.job_id, enqueue_id=sent.enqueue_id, payload={}, correlation_id="c")
            self.work(message, self.clock.now() + timedelta(seconds=30))
            self.acked.add(index)
        for job in self.jobs.jobs.values():
            # I5: nothing stays QUEUED: a live message would have been processed.
            assert job.status is not JobStatus.QUEUED, job
            told = self.told.get(job.job_id)
            if isinstance(told, Accepted):
                # I1: taken by a worker. PROCESSING stays when a worker's
                # completion write failed: processing is at most once.
                assert job.status in TAKEN, job
                STATS["left PROCESSING (completion not written)"] += job.status is JobStatus.PROCESSING
            elif isinstance(told, Unavailable):
                assert job.status is JobStatus.PENDING, job  # I2, I6
            elif isinstance(told, Failed) and told.settled:
                # I3. Unsettled: whatever the reconciler or the next request
                # made of it, and never QUEUED (checked above).
                assert job.status is JobStatus.PENDING and job.last_error is not None, job
        self.no_job_is_processed_twice()
        STATS["jobs"] += len(self.jobs.jobs)

    # -- helpers -----------------------------------------------------------

    def _check_answer(self, job_id: str) -> None:
        told = self.told.get(job_id)
        job = self.jobs.jobs.get(job_id)
        if isinstance(told, Accepted):
            # I1: QUEUED with a live message in the queue, or taken.
            assert job is not None and job.accepted, job
            if job.status is JobStatus.QUEUED:
                assert self._live(job), job
        elif isinstance(told, Unavailable):
            # I2: PENDING (or never stored), no live message.
            assert job is None or job.status is JobStatus.PENDING, job
        elif isinstance(told, Failed) and told.settled:
            # I3, settled: PENDING with last_error, no live message.
            assert job is not None and job.status is JobStatus.PENDING and job.last_error is not None, job

    def _live(self, job: Job) -> bool:
        return any(
            m.job_id == job.job_id and m.enqueue_id == job.enqueue_id and i not in self.acked
            for i, m in enumerate(self.queue.sent)
        )

    def _step(self, job: Job, payload: dict[str, Any]) -> None:
        # I6: never a job whose last answer was a 503 or a 4xx.
        assert not isinstance(self.told.get(job.job_id), Unavailable | InFlight | KeyReused), job
        self.processed[job.job_id] += 1
        STATS["processed"] += 1

    def _count_faults(self) -> None:
        for step in self.queue.consumed + self.jobs.consumed:
            STATS[f"fault {label(step)}"] += 1
        self.queue.consumed.clear()
        self.jobs.consumed.clear()
        self.jobs.forget_faults()
        self.queue.forget_faults()
        STATS["steps"] += 1


TestConsistency = Consistency.TestCase
TestConsistency.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
