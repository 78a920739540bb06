from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain.failures import FailureKind, LastError, abandoned
from domain.job import Job, JobStatus, Watch
from domain.reconcile import SETTLED_METRIC, ReconcileReport
from tests.conftest import Records
from tests.fakes import Meanwhile, OnFakes, store_failure, submitted

GRACE = timedelta(seconds=300)


class ReconcilerOnFakes:
    def __init__(self, batch_limit: int = 100) -> None:
        fakes = OnFakes()
        self.clock, self.jobs, self.metrics = fakes.clock, fakes.jobs, fakes.metrics
        self.run = fakes.reconciler(GRACE, batch_limit)

    def stuck(self, job_id: str, lease_s: float = 30) -> Job:
        now = self.clock.now()
        job = submitted(job_id, now).queued(
            enqueue_id=f"e-{job_id}", correlation_id="c", at=now, lease_until=now + timedelta(seconds=lease_s)
        )
        self.jobs.jobs[job_id] = job
        return job

    def __call__(self) -> ReconcileReport:
        return self.run(self.clock.now() + timedelta(seconds=60))


@pytest.fixture
def reconciler() -> ReconcilerOnFakes:
    return ReconcilerOnFakes()


def test_a_job_stuck_past_the_grace_is_rolled_back_with_its_reason(reconciler: ReconcilerOnFakes) -> None:
    reconciler.stuck("a")
    reconciler.clock.advance(301)

    report = reconciler()

    assert report == ReconcileReport(found=1, settled=1)
    job = reconciler.jobs.jobs["a"]
    assert job.status is JobStatus.PENDING and job.enqueue_id is None
    assert job.last_error is not None and (job.last_error.code, job.last_error.kind) == (
        "Abandoned",
        FailureKind.AMBIGUOUS,
    )
    assert reconciler.metrics.counts["JobsReconciled"] == 1


def test_a_job_younger_than_the_grace_is_not_even_found(reconciler: ReconcilerOnFakes) -> None:
    reconciler.stuck("a")
    reconciler.clock.advance(299)
    assert reconciler() == ReconcileReport()


def test_a_confirmed_job_is_never_touched(reconciler: ReconcilerOnFakes) -> None:
    job = reconciler.stuck("a")
    reconciler.jobs.jobs["a"] = confirmed = job.sent(attempts=1, at=reconciler.clock.now())
    reconciler.clock.advance(10_000)

    assert reconciler() == ReconcileReport()
    assert reconciler.jobs.jobs["a"] == confirmed


def test_a_confirmation_landing_after_the_index_was_read_wins(reconciler: ReconcilerOnFakes) -> None:
    job = reconciler.stuck("a")
    reconciler.clock.advance(301)
    confirmed = job.sent(attempts=1, at=reconciler.clock.now())
    reconciler.jobs.fail("save", Meanwhile(lambda: reconciler.jobs.jobs.__setitem__("a", confirmed)))

    assert reconciler() == ReconcileReport(found=1, moved_on=1)
    assert reconciler.jobs.jobs["a"] == confirmed


def test_a_store_failure_leaves_the_job_for_the_next_run(reconciler: ReconcilerOnFakes) -> None:
    reconciler.stuck("a")
    reconciler.clock.advance(301)
    reconciler.jobs.fail("save", *[store_failure(FailureKind.THROTTLED)] * 3)

    assert reconciler() == ReconcileReport(found=1, failed=1)
    assert reconciler() == ReconcileReport(found=1, settled=1)


def test_work_per_run_is_bounded_and_a_second_run_goes_on_where_it_stopped() -> None:
    reconciler = ReconcilerOnFakes(batch_limit=2)
    for name in "abcde":
        reconciler.stuck(name)
        reconciler.clock.advance(1)
    reconciler.clock.advance(301)

    assert [reconciler().settled for _ in range(4)] == [2, 2, 1, 0]
    assert all(job.status is JobStatus.PENDING for job in reconciler.jobs.jobs.values())
    assert reconciler.metrics.counts["JobsReconciled"] == 5


def test_a_run_that_starts_at_its_deadline_reads_nothing(reconciler: ReconcilerOnFakes) -> None:
    reconciler.stuck("a")
    reconciler.clock.advance(301)

    assert reconciler.run(reconciler.clock.now() + timedelta(seconds=2)) == ReconcileReport()  # the margin is 2 s
    assert reconciler.jobs.calls["find_due"] == 0


def test_time_running_out_mid_batch_leaves_the_rest_for_the_next_run(
    reconciler: ReconcilerOnFakes, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.reconcile")
    for name in "abc":
        reconciler.stuck(name)
    reconciler.clock.advance(301)
    end = reconciler.clock.now() + timedelta(seconds=60)
    # The first settlement's write starts in time and lands exactly at the deadline.
    reconciler.jobs.fail("save", Meanwhile(lambda: reconciler.clock.advance(58)))

    report = reconciler.run(end)

    assert report == ReconcileReport(found=3, settled=1, out_of_time=2)
    assert [job.status for job in reconciler.jobs.jobs.values()] == [
        JobStatus.PENDING,
        JobStatus.QUEUED,
        JobStatus.QUEUED,
    ]
    assert log.of("found", "settled", "out_of_time")[-1] == (
        "INFO",
        "reconciler run",
        {"found": 3, "settled": 1, "out_of_time": 2},
    )


def test_a_settlement_retries_only_while_its_write_can_end_before_the_answer_reserve(
    reconciler: ReconcilerOnFakes,
) -> None:
    reconciler.stuck("a")
    reconciler.clock.advance(301)
    end = reconciler.clock.now() + timedelta(seconds=60)

    def slow_then_throttled() -> None:
        # 1.55 s before the end: a retry's 1.5 s write would end 50 ms in
        # (plus its backoff), past the 100 ms kept to answer.
        reconciler.clock.advance(60 - 1.55)
        raise store_failure(FailureKind.THROTTLED)

    reconciler.jobs.fail("save", Meanwhile(slow_then_throttled))

    assert reconciler.run(end) == ReconcileReport(found=1, failed=1)
    assert reconciler.jobs.calls["save"] == 1


def test_a_run_stops_when_its_time_is_up(reconciler: ReconcilerOnFakes) -> None:
    reconciler.stuck("a")
    reconciler.stuck("b")
    reconciler.clock.advance(301)
    # The query is slow: the run's time is up when it answers.
    reconciler.jobs.fail("find_due", Meanwhile(lambda: reconciler.clock.advance(60)))

    report = reconciler()

    assert report == ReconcileReport(found=2, out_of_time=2)


def test_a_confirmed_job_no_worker_took_within_the_retention_is_failed_not_undone(
    reconciler: ReconcilerOnFakes,
) -> None:
    job = reconciler.stuck("a")
    reconciler.jobs.jobs["a"] = confirmed = job.sent(attempts=1, at=reconciler.clock.now())
    reconciler.clock.advance(timedelta(days=4).total_seconds() - 1)
    assert reconciler() == ReconcileReport()
    reconciler.clock.advance(2)

    assert reconciler() == ReconcileReport(found=1, settled=1)
    job = reconciler.jobs.jobs["a"]
    assert job.status is JobStatus.FAILED and job.enqueue_id == confirmed.enqueue_id
    assert job.last_error is not None and (job.last_error.code, job.last_error.kind) == (
        "MessageExpired",
        FailureKind.UNDELIVERED,
    )


def test_a_claim_taken_after_the_index_was_read_wins_over_the_expiry(reconciler: ReconcilerOnFakes) -> None:
    job = reconciler.stuck("a").sent(attempts=1, at=reconciler.clock.now())
    reconciler.jobs.jobs["a"] = job
    reconciler.clock.advance(timedelta(days=5).total_seconds())
    now = reconciler.clock.now()
    claimed = job.processing(claim_id="c", at=now, until=now + timedelta(seconds=35))
    reconciler.jobs.fail("save", Meanwhile(lambda: reconciler.jobs.jobs.__setitem__("a", claimed)))

    assert reconciler() == ReconcileReport(found=1, moved_on=1)
    assert reconciler.jobs.jobs["a"] == claimed


def test_a_claim_that_expired_a_retention_period_ago_is_failed(reconciler: ReconcilerOnFakes) -> None:
    job = reconciler.stuck("a").sent(attempts=1, at=reconciler.clock.now())
    now = reconciler.clock.now()
    reconciler.jobs.jobs["a"] = job.processing(claim_id="c", at=now, until=now + timedelta(seconds=35))
    reconciler.clock.advance(35 + timedelta(days=4).total_seconds() - 1)
    assert reconciler() == ReconcileReport()  # its message may still come back and be taken over
    reconciler.clock.advance(2)

    assert reconciler() == ReconcileReport(found=1, settled=1)
    failed = reconciler.jobs.jobs["a"]
    assert failed.status is JobStatus.FAILED
    assert failed.last_error is not None and failed.last_error.code == "ClaimExpired"


class TestEachSettlementExactly:
    """The job each watch is settled in, to the field, and what is logged."""

    @pytest.fixture
    def log(self, log_of: Callable[[str], Records]) -> Records:
        return log_of("jobs.reconcile")

    @staticmethod
    def logged(log: Records) -> list[tuple[str, str, dict[str, object]]]:
        fields = ("job_id", "enqueue_id", "correlation_id", "watch", "status", "code", "kind")
        return [entry for entry in log.of(*fields) if entry[1].startswith("stuck job")]

    def test_unconfirmed_rolled_back(self, reconciler: ReconcilerOnFakes, log: Records) -> None:
        job = reconciler.stuck("a")
        reconciler.clock.advance(301)
        now = reconciler.clock.now()

        reconciler()

        assert reconciler.jobs.jobs["a"] == job.rolled_back(error=abandoned(now, "the reconciler"), attempts=0, at=now)
        assert self.logged(log) == [
            (
                "INFO",
                "stuck job settled",
                {
                    "job_id": "a",
                    "enqueue_id": "e-a",
                    "correlation_id": "c",
                    "watch": "confirmation",
                    "status": "PENDING",
                },
            )
        ]
        assert reconciler.metrics.counts[SETTLED_METRIC[Watch.CONFIRMATION]] == 1

    def test_undelivered_failed(self, reconciler: ReconcilerOnFakes, log: Records) -> None:
        job = reconciler.stuck("a").sent(attempts=1, at=reconciler.clock.now())
        reconciler.jobs.jobs["a"] = job
        reconciler.clock.advance(timedelta(days=4, seconds=1).total_seconds())
        now = reconciler.clock.now()

        reconciler()

        error = LastError(
            "MessageExpired",
            FailureKind.UNDELIVERED,
            "no worker took the job while its message could still be delivered",
            now,
        )
        assert reconciler.jobs.jobs["a"] == job.failed(error=error, at=now).announced()
        assert [entry[2]["watch"] for entry in self.logged(log)] == ["delivery"]
        assert reconciler.metrics.counts[SETTLED_METRIC[Watch.DELIVERY]] == 1

    def test_unfinished_failed(self, reconciler: ReconcilerOnFakes, log: Records) -> None:
        now = reconciler.clock.now()
        job = reconciler.stuck("a").processing(claim_id="claim-1", at=now, until=now)
        reconciler.jobs.jobs["a"] = job
        reconciler.clock.advance(timedelta(days=4, seconds=1).total_seconds())
        now = reconciler.clock.now()

        reconciler()

        error = LastError(
            "ClaimExpired",
            FailureKind.PROCESSING,
            "the worker holding claim 1 stopped and no delivery took the job over",
            now,
        )
        assert reconciler.jobs.jobs["a"] == job.failed(error=error, at=now).announced()
        assert self.logged(log)[0][1:] == (
            "stuck job settled",
            {"job_id": "a", "enqueue_id": "e-a", "correlation_id": "c", "watch": "completion", "status": "FAILED"},
        )

    def test_moved_on_and_not_settled_are_logged_as_such(self, reconciler: ReconcilerOnFakes, log: Records) -> None:
        job = reconciler.stuck("a")
        reconciler.stuck("b")
        reconciler.clock.advance(301)
        confirmed = job.sent(attempts=1, at=reconciler.clock.now())
        reconciler.jobs.fail(
            "save",
            Meanwhile(lambda: reconciler.jobs.jobs.__setitem__("a", confirmed)),
            *[store_failure(FailureKind.THROTTLED, "ThrottlingException")] * 3,
        )

        assert reconciler() == ReconcileReport(found=2, moved_on=1, failed=1)
        common = {"enqueue_id": "e-b", "correlation_id": "c", "watch": "confirmation"}
        assert self.logged(log) == [
            ("INFO", "stuck job moved on before the reconciler", {**common, "job_id": "a", "enqueue_id": "e-a"}),
            (
                "WARNING",
                "stuck job not settled",
                {**common, "job_id": "b", "code": "ThrottlingException", "kind": "throttled"},
            ),
        ]
