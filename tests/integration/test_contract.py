"""One contract, two implementations: each fake must behave as its adapter
does on moto server, or the domain tests on fakes prove nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from adapters.dynamodb_items import WATCH_SHARDS, shard_of
from adapters.dynamodb_repository import DynamoDbJobRepository
from adapters.sqs_publisher import SqsJobPublisher
from domain.failures import FailureKind, LastError, Service
from domain.job import Expected, Job, JobStatus, Retention, Watch
from ports.publisher import JobPublisher, OutgoingMessage
from ports.repository import AlreadyExists, ConditionFailed, JobRepository, JobSummary, Page
from tests.fakes import EPOCH, FakeClock, FakeJobPublisher, FakeJobRepository
from tests.integration.conftest import Aws
from tests.simulation.explorer import Scheduler
from tests.simulation.sim_ports import SimPublisher
from tests.simulation.world import World

RETENTION = Retention(timedelta(days=30))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(EPOCH + timedelta(seconds=10))


@pytest.fixture(params=["fake", "dynamodb"])
def repository(request: pytest.FixtureRequest, clock: FakeClock) -> JobRepository:
    if request.param == "fake":
        return FakeJobRepository(clock, RETENTION)
    aws: Aws = request.getfixturevalue("aws")
    return DynamoDbJobRepository(aws.dynamodb, aws.table_name, clock, RETENTION)


def pending(job_id: str = "job-1", key: str | None = "key-1") -> Job:
    return Job.submitted(
        job_id=job_id,
        job_type="resize",
        request_hash="h" * 64,
        correlation_id="corr",
        owner="owner-1",
        idempotency_key=key,
        at=EPOCH,
    )


def queued(job: Job, enqueue_id: str = "enq-1") -> Job:
    return job.queued(
        enqueue_id=enqueue_id, correlation_id="corr-2", at=EPOCH + timedelta(seconds=1), lease_until=EPOCH
    )


class TestJobRepository:
    def test_a_created_job_reads_back_equal(self, repository: JobRepository) -> None:
        job = queued(pending())
        repository.create(job)
        assert repository.get(job.job_id) == job

    def test_every_field_survives_the_round_trip(self, repository: JobRepository) -> None:
        error = LastError("AWS.SimpleQueueService.NonExistentQueue", FailureKind.PERMANENT, "gone", EPOCH)
        job = queued(pending()).rolled_back(error=error, attempts=3, at=EPOCH + timedelta(microseconds=7))
        repository.create(job)
        assert repository.get(job.job_id) == job

    def test_a_finished_jobs_result_claims_and_event_due_survive_the_round_trip(
        self, repository: JobRepository
    ) -> None:
        claimed = queued(pending()).processing(claim_id="claim-1", at=EPOCH, until=EPOCH + timedelta(minutes=1))
        done = claimed.succeeded(at=EPOCH + timedelta(seconds=3, microseconds=5), result='{"width": 640}')
        error = LastError("ValueError", FailureKind.PERMANENT, "bad input", EPOCH, service=Service.QUEUE)
        failed = attrs.evolve(claimed, job_id="job-2").failed(error=error, at=EPOCH + timedelta(seconds=4))
        for job in (done, failed):
            repository.create(job)
            assert repository.get(job.job_id) == job
        assert (done.result, done.event_due, done.claims) == ('{"width": 640}', done.updated_at, 1)

    def test_a_guarded_create_is_refused_while_the_other_id_is_taken_and_names_that_job(
        self, repository: JobRepository
    ) -> None:
        old = queued(pending("job-old"))
        repository.create(old)
        with pytest.raises(AlreadyExists) as caught:
            repository.create(queued(pending("job-new"), "enq-2"), unless_taken="job-old")
        assert caught.value.existing == old
        assert repository.get("job-new") is None

    def test_a_guarded_create_goes_through_when_neither_id_is_taken(self, repository: JobRepository) -> None:
        job = queued(pending("job-new"))
        repository.create(job, unless_taken="job-old")
        assert repository.get("job-new") == job
        assert repository.get("job-old") is None

    def test_a_guarded_create_of_a_taken_id_hands_back_its_own_job(self, repository: JobRepository) -> None:
        mine = queued(pending("job-new"))
        repository.create(mine)
        with pytest.raises(AlreadyExists) as caught:
            repository.create(queued(pending("job-new"), "enq-2"), unless_taken="job-old")
        assert caught.value.existing == mine

    def test_an_expired_job_under_the_other_id_does_not_hold_a_guarded_create(
        self, repository: JobRepository, clock: FakeClock
    ) -> None:
        error = LastError("Throttled", FailureKind.THROTTLED, "slow down", EPOCH)
        repository.create(queued(pending("job-old")).rolled_back(error=error, attempts=1, at=EPOCH))
        clock.current = EPOCH + timedelta(days=31)
        job = queued(pending("job-new"))
        repository.create(job, unless_taken="job-old")
        assert repository.get("job-new") == job

    def test_a_missing_job_reads_as_none(self, repository: JobRepository) -> None:
        assert repository.get("nope") is None

    def test_creating_a_taken_id_hands_back_what_is_stored(self, repository: JobRepository) -> None:
        first = queued(pending())
        repository.create(first)
        with pytest.raises(AlreadyExists) as caught:
            repository.create(queued(pending(), "enq-2"))
        assert caught.value.existing == first
        assert repository.get(first.job_id) == first

    def test_a_settled_job_is_kept_for_the_retention_then_is_absent(
        self, repository: JobRepository, clock: FakeClock
    ) -> None:
        error = LastError("Throttled", FailureKind.THROTTLED, "slow down", EPOCH)
        settled = queued(pending()).rolled_back(error=error, attempts=1, at=EPOCH + timedelta(seconds=2))
        repository.create(settled)
        clock.current = EPOCH + timedelta(days=30, seconds=1)
        assert repository.get(settled.job_id) == settled
        clock.current = EPOCH + timedelta(days=30, seconds=2)
        assert repository.get(settled.job_id) is None

    def test_the_fake_and_the_table_agree_on_the_moment_of_expiry(
        self, repository: JobRepository, clock: FakeClock
    ) -> None:
        error = LastError("Throttled", FailureKind.THROTTLED, "slow down", EPOCH)
        settled = queued(pending()).rolled_back(error=error, attempts=1, at=EPOCH + timedelta(seconds=2.5))
        repository.create(settled)
        clock.current = EPOCH + timedelta(days=30, seconds=2.9)
        assert repository.get(settled.job_id) == settled  # rounded up, never early
        clock.current = EPOCH + timedelta(days=30, seconds=3)
        assert repository.get(settled.job_id) is None

    def test_an_expired_jobs_id_is_taken_by_the_next_create(self, repository: JobRepository, clock: FakeClock) -> None:
        error = LastError("Throttled", FailureKind.THROTTLED, "slow down", EPOCH)
        repository.create(queued(pending()).rolled_back(error=error, attempts=1, at=EPOCH))
        clock.current = EPOCH + timedelta(days=31)
        again = queued(pending(), "enq-2")
        repository.create(again)
        assert repository.get(again.job_id) == again

    def test_a_job_in_flight_never_expires(self, repository: JobRepository, clock: FakeClock) -> None:
        job = queued(pending())
        repository.create(job)
        clock.current = EPOCH + timedelta(days=400)
        assert repository.get(job.job_id) == job
        with pytest.raises(AlreadyExists):
            repository.create(queued(pending(), "enq-2"))

    def test_a_save_on_the_expected_state_replaces_the_job(self, repository: JobRepository) -> None:
        job = queued(pending())
        repository.create(job)
        sent = job.sent(attempts=2, at=EPOCH)
        repository.save(sent, Expected.of(job))
        assert repository.get(job.job_id) == sent

    def test_a_save_on_a_stale_state_fails_and_shows_the_current_one(self, repository: JobRepository) -> None:
        job = queued(pending())
        repository.create(job)
        taken = job.processing(claim_id="claim-x", at=EPOCH, until=EPOCH)
        repository.save(taken, Expected.of(job))
        with pytest.raises(ConditionFailed) as caught:
            repository.save(job.sent(attempts=1, at=EPOCH), Expected.of(job))
        assert caught.value.current == taken
        assert str(caught.value) == f"job {job.job_id} is not in the expected state"

    def test_a_save_insists_on_the_enqueue_id_too(self, repository: JobRepository) -> None:
        job = queued(pending())
        repository.create(job)
        other = Expected(job.job_id, JobStatus.QUEUED, job.version, "enq-other", job.created_at)
        with pytest.raises(ConditionFailed):
            repository.save(job.sent(attempts=1, at=EPOCH), other)

    def test_a_save_on_a_job_that_expired_and_was_made_again_fails(
        self, repository: JobRepository, clock: FakeClock
    ) -> None:
        """Its successor may have reached the same status and version: the
        creation time tells them apart, so the old job cannot come back."""
        error = LastError("Throttled", FailureKind.THROTTLED, "slow down", EPOCH)
        old = queued(pending()).rolled_back(error=error, attempts=1, at=EPOCH)
        repository.create(old)
        clock.current = later = EPOCH + timedelta(days=31)
        again = attrs.evolve(pending(), created_at=later, updated_at=later)
        successor = queued(again, "enq-2").rolled_back(error=error, attempts=1, at=later)
        repository.create(successor)
        assert (successor.status, successor.version, successor.enqueue_id) == (old.status, old.version, None)

        with pytest.raises(ConditionFailed) as caught:
            repository.save(queued(old, "enq-3"), Expected.of(old))
        assert caught.value.current == successor

    @pytest.mark.parametrize("clause", ["status", "version", "enqueue id", "no enqueue id", "creation"])
    def test_a_save_fails_when_any_one_clause_of_its_expectation_is_off(
        self, repository: JobRepository, clause: str
    ) -> None:
        """Each clause alone: a stale writer that matches on every other
        one (the right status and episode, an older version) must lose."""
        job = queued(pending())
        repository.create(job)
        confirmed = job.sent(attempts=1, at=EPOCH)
        repository.save(confirmed, Expected.of(job))
        right = Expected.of(confirmed)
        off = {
            "status": attrs.evolve(right, status=JobStatus.PROCESSING),
            "version": attrs.evolve(right, version=job.version),
            "enqueue id": attrs.evolve(right, enqueue_id="enq-other"),
            "no enqueue id": attrs.evolve(right, enqueue_id=None),
            "creation": attrs.evolve(right, created_at=EPOCH - timedelta(seconds=1)),
        }[clause]
        claimed = confirmed.processing(claim_id="claim-x", at=EPOCH, until=EPOCH)

        with pytest.raises(ConditionFailed) as caught:
            repository.save(claimed, off)

        assert caught.value.current == confirmed
        repository.save(claimed, right)
        assert repository.get(job.job_id) == claimed

    def test_a_pending_expectation_requires_no_enqueue_id(self, repository: JobRepository) -> None:
        job = pending()
        repository.create(job)
        requeued = queued(job)
        repository.save(requeued, Expected.of(job))
        assert repository.get(job.job_id) == requeued

    def test_find_due_returns_the_oldest_of_one_watch_before_the_cutoff_across_every_shard(
        self, repository: JobRepository
    ) -> None:
        # Twelve jobs over the index's shards, each a second older than the next.
        jobs = [
            pending(f"job-{n:02d}", key=None).queued(
                enqueue_id=f"enq-{n}", correlation_id="c", at=EPOCH + timedelta(seconds=n), lease_until=EPOCH
            )
            for n in range(12)
        ]
        assert len({shard_of(job.job_id) for job in jobs}) == WATCH_SHARDS
        confirmed = {job.job_id for job in jobs[::3]}
        for job in jobs:
            repository.create(job.sent(attempts=1, at=job.updated_at) if job.job_id in confirmed else job)
        waiting = [job for job in jobs if job.job_id not in confirmed]

        due = repository.find_due(Watch.CONFIRMATION, EPOCH + timedelta(seconds=10), 4)

        assert [job.job_id for job in due] == [job.job_id for job in waiting[:4]]
        assert {job.job_id for job in repository.find_due(Watch.DELIVERY, EPOCH + timedelta(days=1), 100)} == confirmed
        everything = repository.find_due(Watch.CONFIRMATION, EPOCH + timedelta(seconds=10), 100)
        assert [job.job_id for job in everything] == [
            j.job_id for j in waiting if j.updated_at < EPOCH + timedelta(seconds=10)
        ]

    def test_a_payload_and_a_cancel_request_survive_the_round_trip(self, repository: JobRepository) -> None:
        job = attrs.evolve(queued(pending()), payload='{"é":[1,2.5]}')
        claimed = job.processing(claim_id="claim-1", at=EPOCH, until=EPOCH + timedelta(minutes=1))
        asked = claimed.cancel_asked(at=EPOCH + timedelta(seconds=2))
        repository.create(job)
        repository.save(claimed, Expected.of(job))
        repository.save(asked, Expected.of(claimed))
        assert repository.get(job.job_id) == asked

    def test_an_owners_jobs_are_listed_newest_first_by_page_and_by_status(
        self, repository: JobRepository, clock: FakeClock
    ) -> None:
        def made(n: int, owner: str) -> Job:
            job = attrs.evolve(pending(f"job-{owner}-{n:02d}", key=None), owner=owner, payload='{"big":"x"}')
            return job.queued(
                enqueue_id=f"e{n}", correlation_id="c", at=EPOCH + timedelta(seconds=n), lease_until=EPOCH
            )

        mine = [made(n, "alice") for n in range(7)]
        for job in mine + [made(n, "bob") for n in range(3)]:
            repository.create(job)
        cancelled = mine[2].cancelled(at=EPOCH + timedelta(seconds=9))
        repository.save(cancelled, Expected.of(mine[2]))
        newest_first = [job.job_id for job in reversed(mine)]

        pages, after = [], None
        while True:
            page = repository.list_owned("alice", None, 3, after)
            pages.append([job.job_id for job in page.jobs])
            if page.next is None:
                break
            after = page.next
        listed = [job_id for page in pages for job_id in page]
        assert listed == newest_first and all(len(page) <= 3 for page in pages)
        assert len(pages) in (3, 4)  # a store may say "more" when the last page was exactly full

        only = repository.list_owned("alice", JobStatus.CANCELLED, 5, None)
        assert [job.job_id for job in only.jobs] == [cancelled.job_id]
        assert only.jobs[0] == JobSummary.of(cancelled)
        assert repository.list_owned("carol", None, 5, None) == Page([], None)

    def test_a_save_of_a_missing_job_fails_with_nothing_current(self, repository: JobRepository) -> None:
        job = queued(pending())
        with pytest.raises(ConditionFailed) as caught:
            repository.save(job.sent(attempts=1, at=EPOCH), Expected.of(job))
        assert caught.value.current is None


@pytest.fixture(params=["fake", "simulated", "sqs", "sqs-fifo"])
def publisher_and_queue(request: pytest.FixtureRequest) -> tuple[JobPublisher, Callable[[], list[dict[str, Any]]]]:
    """A publisher and a way to read what reached its queue."""
    if request.param == "fake":
        fake = FakeJobPublisher()
        return fake, lambda: [
            {"body": m.body, "correlation_id": m.correlation_id, "dedup": m.enqueue_id} for m in fake.sent
        ]
    if request.param == "simulated":
        # Outside an explored actor every call goes through untouched.
        world = World(Scheduler())
        return SimPublisher(world), lambda: [
            {"body": s.message.body, "correlation_id": s.message.correlation_id, "dedup": s.message.enqueue_id}
            for s in world.queue
            if not s.deleted
        ]
    aws: Aws = request.getfixturevalue("aws")
    queue_url = aws.queue_url
    if request.param == "sqs-fifo":
        queue_url = aws.sqs.create_queue(QueueName=aws.table_name + ".fifo", Attributes={"FifoQueue": "true"})[
            "QueueUrl"
        ]

    def read() -> list[dict[str, Any]]:
        answer = aws.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
        )
        return [
            {
                "body": m["Body"],
                "correlation_id": m["MessageAttributes"]["correlation_id"]["StringValue"],
                # Standard queues have no dedup id; the contract only binds FIFO.
                "dedup": m["Attributes"].get("MessageDeduplicationId", "enq-1"),
            }
            for m in answer.get("Messages", [])
        ]

    return SqsJobPublisher(aws.sqs, queue_url), read


MESSAGE = OutgoingMessage(
    job_id="job-1", enqueue_id="enq-1", body=json.dumps({"job_id": "job-1", "x": "é\n"}), correlation_id="corr-1"
)


class TestJobPublisher:
    def test_a_published_message_arrives_whole_with_its_correlation_id(
        self, publisher_and_queue: tuple[JobPublisher, Callable[[], list[dict[str, Any]]]]
    ) -> None:
        publisher, read = publisher_and_queue
        receipt = publisher.publish(MESSAGE)
        assert receipt.message_id
        assert read() == [{"body": MESSAGE.body, "correlation_id": "corr-1", "dedup": "enq-1"}]
