"""The producer protocol on fakes: every send failure kind, every rollback
outcome, and the Idempotency-Key rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

from domain.budget import CLOCK_SKEW, Budget
from domain.failures import FailureKind, LastError, Service, abandoned
from domain.job import JobStatus
from domain.outcomes import Accepted, ContentRejected, Failed, InFlight, KeyReused, Unavailable, Unsettled
from domain.retry import RetryPolicy
from tests.conftest import Records
from tests.fakes import EPOCH, FakeIds, FakeJobPublisher, Lost, Meanwhile, keyed_id, send_failure, store_failure
from tests.unit.conftest import CALLER, World

THROTTLED = send_failure(FailureKind.THROTTLED, "RequestThrottled", 400)
UNAVAILABLE = send_failure(FailureKind.AMBIGUOUS, "ServiceUnavailable", 503)
NOT_SENT = send_failure(FailureKind.NOT_SENT, "EndpointConnectionError")
READ_TIMEOUT = send_failure(FailureKind.AMBIGUOUS, "ReadTimeoutError")
K1 = FakeIds().job_id_for_key(CALLER, "k1")
MISSING_QUEUE = send_failure(FailureKind.PERMANENT, "AWS.SimpleQueueService.NonExistentQueue", 400)


def live_messages(world: World) -> list[str]:
    """Messages whose job is QUEUED with their enqueue_id (brief: "live")."""
    live = []
    for message in world.queue.sent:
        job = world.jobs.jobs.get(message.job_id)
        if job and job.status is JobStatus.QUEUED and job.enqueue_id == message.enqueue_id:
            live.append(message.enqueue_id)
    return live


def test_the_happy_path_is_three_calls_and_leaves_one_live_confirmed_message(world: World) -> None:
    outcome = world.submit()

    assert outcome == Accepted("job-0001")
    job = world.jobs.jobs["job-0001"]
    assert job.status is JobStatus.QUEUED and job.accepted and job.attempts == 1
    assert live_messages(world) == ["enq-0001"]
    assert {**world.jobs.calls, "send": world.queue.calls} == {"create": 1, "send": 1, "save": 1}
    assert world.metrics.counts["JobsAccepted"] == 1


def test_the_job_is_recorded_as_submitted_and_sent_in_the_briefs_envelope(world: World) -> None:
    world.submit()
    world.submit(key="k1")

    plain, keyed = world.jobs.jobs["job-0001"], world.jobs.jobs[K1]
    assert (plain.job_type, plain.correlation_id, plain.idempotency_key) == ("resize", "corr-1", None)
    assert keyed.idempotency_key == "k1"
    message = world.queue.sent[0]
    assert message.correlation_id == "corr-1"
    # Compact, as the 413 check counts it.
    assert message.body == (
        '{"job_id":"job-0001","enqueue_id":"enq-0001","type":"resize","correlation_id":"corr-1",'
        '"submitted_at":"2026-01-01T00:00:00+00:00","payload":{"n":1}}'
    )


def test_the_job_and_its_send_are_logged_with_the_ids_that_find_them(
    world: World, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.enqueue")

    world.submit(key="k1")

    assert (
        "INFO",
        "send attempt succeeded",
        {
            "job_id": K1,
            "enqueue_id": "enq-0001",
            "correlation_id": "corr-1",
            "attempt": 1,
            "message_id": "msg-0001",
            "sqs_request_id": "req-0001",
        },
    ) in log.of("job_id", "enqueue_id", "correlation_id", "attempt", "message_id", "sqs_request_id")


def test_no_room_for_a_send_before_the_deadline_is_a_503_saying_so(world: World) -> None:
    outcome = world.submit(seconds=5)  # a send (3 s) must end before the 3 s margin

    assert world.queue.calls == 0
    job = world.jobs.jobs["job-0001"]
    assert job.last_error == LastError(
        "DeadlineReached",
        FailureKind.DEADLINE,
        "no send attempt fits before the deadline",
        world.clock.now(),
        service=Service.QUEUE,  # the error names the service that failed
    )
    assert outcome == Unavailable("job-0001", job.last_error, 1)


def test_the_budget_of_an_invocation() -> None:
    deadline = EPOCH + timedelta(seconds=30)

    assert Budget.ending(deadline, timedelta(seconds=3)) == Budget(
        work_by=deadline - timedelta(seconds=3),
        settle_by=deadline - timedelta(milliseconds=100),
        lease_until=deadline + timedelta(seconds=5),
    )


@pytest.mark.parametrize("fault", [THROTTLED, UNAVAILABLE, NOT_SENT, READ_TIMEOUT])
def test_a_transient_failure_that_recovers_gives_202_with_one_live_message(world: World, fault: Exception) -> None:
    world.queue.fail(fault, fault)

    assert isinstance(world.submit(), Accepted)
    assert world.queue.calls == 3
    assert live_messages(world) == ["enq-0001"]
    assert world.jobs.jobs["job-0001"].attempts == 3
    assert world.metrics.counts["SendRetries"] == 2


@pytest.mark.parametrize("fault", [THROTTLED, UNAVAILABLE, NOT_SENT])
def test_a_persistent_transient_failure_gives_503_and_rolls_back(world: World, fault: Exception) -> None:
    world.queue.fail(*[fault] * 10)

    outcome = world.submit()

    assert isinstance(outcome, Unavailable) and outcome.retry_after_s == 1
    assert world.queue.calls == 4
    job = world.jobs.jobs["job-0001"]
    assert job.status is JobStatus.PENDING and job.attempts == 4
    assert job.last_error is not None and job.last_error.kind is fault.kind  # type: ignore[attr-defined]
    assert live_messages(world) == []
    assert world.metrics.counts["Rollbacks"] == 1


def test_a_permanent_failure_is_sent_once_and_gives_a_settled_500(world: World) -> None:
    world.queue.fail(MISSING_QUEUE)

    outcome = world.submit()

    assert world.queue.calls == 1
    job = world.jobs.jobs["job-0001"]
    assert job.status is JobStatus.PENDING
    assert job.last_error is not None and job.last_error.code == "AWS.SimpleQueueService.NonExistentQueue"
    assert outcome == Failed("job-0001", job.last_error)
    assert world.metrics.counts["PermanentFailures"] == 1


def test_sends_delivered_whose_answers_were_lost_leave_only_stale_messages(world: World) -> None:
    world.queue.fail(*[Lost(READ_TIMEOUT)] * 4)

    outcome = world.submit()

    assert isinstance(outcome, Unavailable)
    assert len(world.queue.sent) == 4
    assert {m.enqueue_id for m in world.queue.sent} == {"enq-0001"}  # retries keep the fencing token
    assert live_messages(world) == []


def test_sqs_refusing_the_content_rolls_back_and_answers_4xx(world: World) -> None:
    world.queue.fail(send_failure(FailureKind.CLIENT_CONTENT, "MessageTooLong", 400))

    outcome = world.submit()

    job = world.jobs.jobs["job-0001"]
    assert job.status is JobStatus.PENDING and job.last_error is not None
    assert outcome == ContentRejected("job-0001", job.last_error, too_large=True)


def test_no_attempt_or_sleep_starts_that_cannot_end_before_the_deadline(world: World) -> None:
    # Every attempt takes its whole 3 s timeout.
    world.queue = FakeJobPublisher(tick=lambda: world.clock.advance(3))
    world.queue.fail(*[THROTTLED] * 50)
    world.send_policy = RetryPolicy(max_attempts=50, base_delay_s=0.5, max_delay_s=2, attempt_timeout_s=3)
    start = world.clock.now()

    outcome = world.submit(seconds=12)

    assert isinstance(outcome, Unavailable)
    # A 12 s invocation less the 3 s margin leaves 9 s for sends.
    assert (world.clock.now() - start).total_seconds() <= 9
    assert 2 <= world.queue.calls <= 3


def test_an_invocation_too_short_for_any_attempt_rolls_back_without_sending(world: World) -> None:
    outcome = world.submit(seconds=4)

    assert isinstance(outcome, Unavailable) and outcome.error.code == "DeadlineReached"
    assert world.queue.calls == 0
    assert world.jobs.jobs["job-0001"].status is JobStatus.PENDING


def test_a_rollback_whose_condition_finds_the_worker_there_answers_202(world: World) -> None:
    world.queue.fail(Lost(READ_TIMEOUT), *[UNAVAILABLE] * 3)
    # The worker takes the delivered message while the producer still retries.
    take = _worker_takes(world)
    world.jobs.fail("save", take)

    assert isinstance(world.submit(), Accepted)
    assert world.jobs.jobs["job-0001"].status is JobStatus.PROCESSING
    assert world.metrics.counts["Rollbacks"] == 1


def test_a_confirmation_losing_to_the_worker_still_answers_202(world: World) -> None:
    world.jobs.fail("save", _worker_takes(world))

    assert isinstance(world.submit(), Accepted)


def test_a_rollback_retried_after_an_ambiguous_write_recognises_its_own_write(world: World) -> None:
    world.queue.fail(MISSING_QUEUE)
    world.jobs.fail("save", Lost(store_failure(FailureKind.AMBIGUOUS, "InternalServerError")))

    outcome = world.submit()

    assert isinstance(outcome, Failed)
    assert world.jobs.calls["save"] == 2
    assert world.jobs.jobs["job-0001"].status is JobStatus.PENDING


def test_a_rollback_that_cannot_be_written_answers_an_unsettled_500(world: World) -> None:
    world.queue.fail(*[UNAVAILABLE] * 4)
    world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED)] * 3)

    outcome = world.submit()

    assert isinstance(outcome, Unsettled)
    assert world.jobs.jobs["job-0001"].awaiting_confirmation  # left for the reconciler
    assert world.metrics.counts["RollbackFailures"] == 1


def test_a_confirmation_that_cannot_be_written_undoes_the_episode(
    world: World, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.enqueue")
    # Store throttled three times for the confirmation, then fine for the rollback.
    world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED, "ThrottlingException")] * 3)

    outcome = world.submit()

    assert isinstance(outcome, Unavailable)
    assert world.jobs.jobs["job-0001"].status is JobStatus.PENDING
    assert live_messages(world) == []
    assert (
        "WARNING",
        "send not confirmed",
        {"job_id": "job-0001", "enqueue_id": "enq-0001", "code": "ThrottlingException", "kind": "throttled"},
    ) in log.of("job_id", "enqueue_id", "code", "kind")


def test_a_job_that_cannot_be_recorded_is_never_sent_nor_named(world: World, log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.enqueue")
    world.jobs.fail("create", *[store_failure(FailureKind.THROTTLED)] * 3)

    outcome = world.submit()

    assert isinstance(outcome, Unavailable) and outcome.job_id is None
    assert world.queue.calls == 0 and world.jobs.jobs == {}
    assert (
        "WARNING",
        "job not recorded",
        {"job_id": "job-0001", "enqueue_id": "enq-0001", "code": "throttled", "kind": "throttled"},
    ) in log.of("job_id", "enqueue_id", "code", "kind")


def test_an_ambiguous_create_that_landed_is_recognised_as_ours(world: World) -> None:
    world.jobs.fail("create", Lost(store_failure(FailureKind.AMBIGUOUS)))

    assert isinstance(world.submit(key="k"), Accepted)
    assert len(world.queue.sent) == 1


class TestIdempotencyKey:
    def test_a_replay_returns_the_first_outcome_without_sending_again(self, world: World) -> None:
        first = world.submit(key="k1")
        again = world.submit(key="k1")

        assert first == Accepted(K1)
        assert again == Accepted(K1, replayed=True)
        assert world.queue.calls == 1

    def test_another_body_with_the_same_key_is_422(self, world: World) -> None:
        world.submit(key="k1")
        assert world.submit(key="k1", payload={"n": 2}) == KeyReused(K1)

    def test_a_retry_after_a_503_gives_202_on_the_same_job(self, world: World) -> None:
        world.queue.fail(*[THROTTLED] * 4)
        assert isinstance(world.submit(key="k1"), Unavailable)

        assert world.submit(key="k1") == Accepted(K1)
        assert len(world.jobs.jobs) == 1
        assert len(live_messages(world)) == 1 and live_messages(world) != ["enq-0001"]
        assert world.jobs.jobs[K1].attempts == 5

    def test_a_retry_after_a_permanent_500_replays_it(self, world: World) -> None:
        world.queue.fail(MISSING_QUEUE)
        world.submit(key="k1")

        outcome = world.submit(key="k1")

        assert isinstance(outcome, Failed)
        assert world.queue.calls == 1

    def test_a_retry_after_a_413_from_sqs_is_the_same_413_and_sends_nothing(self, world: World) -> None:
        world.queue.fail(send_failure(FailureKind.CLIENT_CONTENT, "MessageTooLong", 400))
        first = world.submit(key="k1")

        again = world.submit(key="k1")

        assert isinstance(first, ContentRejected) and first.too_large
        # The same answer, said to be the first request's.
        assert again == attrs.evolve(first, replayed=True) and world.queue.calls == 1

    def test_a_request_while_the_first_is_in_flight_is_409(self, world: World) -> None:
        world.queue.fail(*[UNAVAILABLE] * 4)
        world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED)] * 3)
        world.submit(key="k1")  # leaves the job QUEUED under a live lease

        assert world.submit(key="k1") == InFlight(K1)

    def test_after_the_lease_a_retry_takes_over_an_abandoned_episode(self, world: World) -> None:
        world.queue.fail(*[UNAVAILABLE] * 4)
        world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED)] * 3)
        world.submit(key="k1")
        world.clock.advance(60)
        taken_over_at = world.clock.now()

        assert world.submit(key="k1") == Accepted(K1)
        assert len(live_messages(world)) == 1 and live_messages(world) != ["enq-0001"]
        # Why the first episode ended stays on the job; only the send that went through counts.
        job = world.jobs.jobs[K1]
        assert job.last_error == LastError(
            "Abandoned",
            FailureKind.AMBIGUOUS,
            "left QUEUED without a confirmed send; settled by a retry of the request",
            taken_over_at,
        )
        assert job.attempts == 1


def test_a_logged_delay_is_the_wait_to_the_millisecond(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.enqueue")
    world = World(send_policy=RetryPolicy(max_attempts=2, base_delay_s=10.0, max_delay_s=10.0, attempt_timeout_s=3.0))
    world.queue.fail(THROTTLED, MISSING_QUEUE)

    world.submit()

    [slept] = world.clock.slept
    assert slept >= 1  # long enough that a delay off by one part in a thousand is off by a millisecond
    delays = [fields["delay_ms"] for _, _, fields in log.of("delay_ms") if fields]
    assert delays == [round(slept * 1000)]


def test_each_failed_send_attempt_is_logged_with_what_was_decided(
    world: World, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.enqueue")
    world.queue.fail(THROTTLED, MISSING_QUEUE)

    world.submit()

    fields = ("attempt", "code", "kind", "error", "http_status", "sqs_request_id", "decision", "delay_ms", "reason")
    failed = [entry for entry in log.of("job_id", "enqueue_id", *fields) if entry[1] == "send attempt failed"]
    ids = {"job_id": "job-0001", "enqueue_id": "enq-0001"}
    assert failed == [
        (
            "WARNING",
            "send attempt failed",
            {
                **ids,
                "attempt": 1,
                "code": "RequestThrottled",
                "kind": "throttled",
                "error": "injected",
                "http_status": 400,
                "sqs_request_id": "req-injected",
                "decision": "Retry",
                "delay_ms": round(world.clock.slept[0] * 1000),
            },
        ),
        (
            "WARNING",
            "send attempt failed",
            {
                **ids,
                "attempt": 2,
                "code": "AWS.SimpleQueueService.NonExistentQueue",
                "kind": "permanent",
                "error": "injected",
                "http_status": 400,
                "sqs_request_id": "req-injected",
                "decision": "GiveUp",
                "reason": "not retryable",
            },
        ),
    ]
    assert world.metrics.counts["SendRetries"] == 1


def _abandoned_first_request(world: World) -> None:
    """A keyed request whose sends and rollback all failed, its lease now over."""
    world.queue.fail(*[UNAVAILABLE] * 4)
    world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED)] * 3)
    world.submit(key="k1")
    world.clock.advance(60)


class TestTakeOver:
    """A same-key retry taking over an abandoned episode: each way its one
    conditional write can end."""

    def test_the_job_is_re_driven_for_the_retry(self, world: World, log_of: Callable[[str], Records]) -> None:
        log = log_of("jobs.enqueue")
        _abandoned_first_request(world)
        first = world.jobs.jobs[K1].enqueue_id
        at_send = []
        world.queue.fail(Meanwhile(lambda: at_send.append(world.jobs.jobs[K1])))
        deadline = world.deadline()

        assert world.submit(key="k1", correlation_id="corr-2") == Accepted(K1)

        requeued = at_send[0]
        assert (requeued.status, requeued.correlation_id) == (JobStatus.QUEUED, "corr-2")
        assert requeued.enqueue_id not in (None, first)  # a new episode
        assert live_messages(world) == [requeued.enqueue_id]
        assert requeued.lease_until == deadline + CLOCK_SKEW
        assert (
            "INFO",
            "job re-driven",
            {"job_id": K1, "enqueue_id": requeued.enqueue_id, "correlation_id": "corr-2", "previous_status": "QUEUED"},
        ) in log.of("job_id", "enqueue_id", "correlation_id", "previous_status")

    def test_only_a_pending_job_answers_with_its_stored_failure(self, world: World) -> None:
        # An abandoned episode that still carries an earlier episode's permanent failure: that
        # failure is history, and the job is taken over, not answered with a 500.
        _abandoned_first_request(world)
        job = world.jobs.jobs[K1]
        permanent = LastError("AccessDenied", FailureKind.PERMANENT, "denied", world.clock.now())
        world.jobs.jobs[K1] = attrs.evolve(job, last_error=permanent)

        assert world.submit(key="k1") == Accepted(K1)

    def test_its_own_write_that_landed_unseen_goes_on_to_the_send(self, world: World) -> None:
        _abandoned_first_request(world)
        first = world.jobs.jobs[K1].enqueue_id
        world.jobs.fail("save", Lost(store_failure(FailureKind.AMBIGUOUS)))

        assert world.submit(key="k1") == Accepted(K1)
        assert live_messages(world) == [world.jobs.jobs[K1].enqueue_id] and first not in live_messages(world)

    @pytest.mark.parametrize("other", ["in flight", "accepted", "settled by the reconciler"])
    def test_losing_to_another_actor_answers_for_what_it_made_of_the_job(self, world: World, other: str) -> None:
        _abandoned_first_request(world)

        def another_actor() -> None:
            job, now = world.jobs.jobs[K1], world.clock.now()
            taken = job.rolled_back(error=abandoned(now, "another retry"), attempts=0, at=now).queued(
                enqueue_id="enq-other", correlation_id="corr-other", at=now, lease_until=now + timedelta(seconds=30)
            )
            made = {
                "in flight": taken,
                "accepted": taken.sent(attempts=1, at=now),
                "settled by the reconciler": job.rolled_back(
                    error=abandoned(now, "the reconciler"), attempts=0, at=now
                ),
            }
            world.jobs.jobs[K1] = made[other]

        world.jobs.fail("save", Meanwhile(another_actor))

        expected = {
            "in flight": InFlight(K1),
            "accepted": Accepted(K1, replayed=True),
            "settled by the reconciler": InFlight(K1),  # PENDING again: the client may retry
        }
        assert world.submit(key="k1") == expected[other]
        assert world.queue.calls == 4  # only the first request's sends

    def test_a_write_that_fails_is_a_500_for_the_job_left_queued(self, world: World) -> None:
        _abandoned_first_request(world)
        world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED, "ThrottlingException")] * 3)

        outcome = world.submit(key="k1")

        assert isinstance(outcome, Unsettled) and outcome == Unsettled(K1, outcome.error)
        assert outcome.error.code == "ThrottlingException"
        assert world.jobs.jobs[K1].status is JobStatus.QUEUED  # as the first request left it


class TestAReDriveThatCannotBeWritten:
    """A same-key retry of a job left PENDING by a 503, whose one re-drive
    write fails: the answer says what the store may hold."""

    @staticmethod
    def pending_after_a_503(world: World) -> None:
        world.queue.fail(*[THROTTLED] * 4)
        assert isinstance(world.submit(key="k1"), Unavailable)

    def test_refused_it_is_a_503_naming_the_store(self, world: World) -> None:
        self.pending_after_a_503(world)
        world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED, "ThrottlingException")] * 3)

        outcome = world.submit(key="k1")

        error = LastError("ThrottlingException", FailureKind.THROTTLED, "injected", world.clock.now(), Service.STORE)
        assert outcome == Unavailable(K1, error, 1)
        assert world.jobs.jobs[K1].status is JobStatus.PENDING

    def test_one_that_may_have_landed_is_unsettled(self, world: World) -> None:
        self.pending_after_a_503(world)
        world.jobs.fail("save", *[store_failure(FailureKind.AMBIGUOUS, "InternalServerError")] * 3)

        outcome = world.submit(key="k1")

        error = LastError("InternalServerError", FailureKind.AMBIGUOUS, "injected", world.clock.now(), Service.STORE)
        assert outcome == Unsettled(K1, error)


def test_a_confirmation_that_finds_the_job_gone_is_a_500(world: World, log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.enqueue")
    world.jobs.fail("save", Meanwhile(lambda: world.jobs.jobs.clear()))  # deleted by hand mid-send

    outcome = world.submit()

    assert outcome == Unsettled(
        "job-0001",
        LastError("Superseded", FailureKind.AMBIGUOUS, "the job was moved by another actor", world.clock.now()),
    )
    assert log.of()[-1][:2] == ("ERROR", "send not confirmed: job moved")


def _worker_takes(world: World) -> Meanwhile:
    """The worker moves the job to PROCESSING just before the next write."""

    def take() -> None:
        job = world.jobs.jobs["job-0001"]
        world.jobs.jobs["job-0001"] = job.processing(claim_id="claim-x", at=world.clock.now(), until=world.clock.now())

    return Meanwhile(take)


def test_a_create_that_landed_unseen_before_the_retries_failed_is_unsettled_not_503(world: World) -> None:
    world.jobs.fail(
        "create",
        Lost(store_failure(FailureKind.AMBIGUOUS)),
        store_failure(FailureKind.THROTTLED),
        store_failure(FailureKind.THROTTLED),
    )

    outcome = world.submit()

    assert isinstance(outcome, Unsettled)
    assert world.jobs.jobs["job-0001"].awaiting_confirmation  # stored, no message: the reconciler's
    assert world.queue.calls == 0


def test_a_create_whose_attempts_all_failed_after_an_ambiguous_one_is_unsettled(world: World) -> None:
    world.jobs.fail(
        "create",
        store_failure(FailureKind.AMBIGUOUS),
        store_failure(FailureKind.THROTTLED),
        store_failure(FailureKind.THROTTLED),
    )

    outcome = world.submit()

    assert isinstance(outcome, Unsettled)
    assert world.queue.calls == 0


def test_a_confirmation_that_landed_unseen_is_recognised_by_the_rollback(world: World) -> None:
    world.jobs.fail(
        "save",
        Lost(store_failure(FailureKind.AMBIGUOUS)),  # the confirmation lands, its answer is lost
        store_failure(FailureKind.THROTTLED),
        store_failure(FailureKind.THROTTLED),
    )

    assert isinstance(world.submit(), Accepted)
    assert world.jobs.jobs["job-0001"].accepted
    assert live_messages(world) == ["enq-0001"]


def test_a_reconciler_undercutting_a_live_invocation_turns_its_answer_into_a_503(world: World) -> None:
    def reconciler_settles() -> None:
        job = world.jobs.jobs["job-0001"]
        world.jobs.jobs["job-0001"] = job.rolled_back(
            error=abandoned(world.clock.now(), "the reconciler"), attempts=0, at=world.clock.now()
        )

    world.jobs.fail("save", Meanwhile(reconciler_settles))  # just before the confirmation

    outcome = world.submit()

    job = world.jobs.jobs["job-0001"]
    assert job.status is JobStatus.PENDING and job.last_error is not None
    assert outcome == Unavailable("job-0001", job.last_error, 1)
    assert live_messages(world) == []


def test_a_confirmation_losing_to_another_episode_is_a_500_that_names_no_failure_of_its_own(
    world: World, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.enqueue")

    def another_episode() -> None:  # a same-key retry took the job over after our lease
        job, now = world.jobs.jobs["job-0001"], world.clock.now()
        # It carries why an episode before it ended: not ours to answer with.
        taken = job.rolled_back(error=abandoned(now, "a retry"), attempts=0, at=now).queued(
            enqueue_id="enq-other", correlation_id="corr-other", at=now, lease_until=now
        )
        world.jobs.jobs["job-0001"] = taken

    world.jobs.fail("save", Meanwhile(another_episode))  # just before the confirmation

    outcome = world.submit()

    assert outcome == Unsettled(
        "job-0001",
        LastError("Superseded", FailureKind.AMBIGUOUS, "the job was moved by another actor", world.clock.now()),
    )
    assert [(level, message) for level, message, _ in log.of()] == [
        ("INFO", "send attempt succeeded"),
        ("ERROR", "send not confirmed: job moved"),
    ]
    assert log.of("found")[-1][2] == {"found": "QUEUED"}
    assert world.jobs.jobs["job-0001"].enqueue_id == "enq-other"


class TestEveryRollbackPath:
    """Each way a rollback ends: the answer, the counters, and the one log
    record an operator reads, exactly (the logs are how a 500 is debugged)."""

    @pytest.fixture
    def log(self, log_of: Callable[[str], Records]) -> Records:
        return log_of("jobs.enqueue")

    @staticmethod
    def records(log: Records) -> list[tuple[str, str, dict[str, object]]]:
        fields = ("job_id", "enqueue_id", "correlation_id", "code", "kind", "found", "rollback_code", "rollback_kind")
        return [entry for entry in log.of(*fields) if entry[1].startswith(("rollback", "rolled back"))]

    def test_rolled_back(self, world: World, log: Records) -> None:
        world.queue.fail(*[THROTTLED] * 4)

        outcome = world.submit()

        error = world.jobs.jobs["job-0001"].last_error
        assert error is not None and outcome == Unavailable("job-0001", error, 1)
        assert self.records(log) == [
            (
                "INFO",
                "rolled back to PENDING",
                {
                    "job_id": "job-0001",
                    "enqueue_id": "enq-0001",
                    "correlation_id": "corr-1",
                    "code": "RequestThrottled",
                    "kind": "throttled",
                },
            )
        ]
        assert (world.metrics.counts["Rollbacks"], world.metrics.counts["RollbackFailures"]) == (1, 0)

    def test_already_pending_after_an_ambiguous_write(self, world: World, log: Records) -> None:
        world.queue.fail(*[THROTTLED] * 4)
        world.jobs.fail("save", Lost(store_failure(FailureKind.AMBIGUOUS, "InternalServerError")))

        outcome = world.submit()

        error = world.jobs.jobs["job-0001"].last_error
        assert error is not None and outcome == Unavailable("job-0001", error, 1)
        assert self.records(log) == [
            (
                "INFO",
                "rollback found the job already PENDING",
                {
                    "job_id": "job-0001",
                    "enqueue_id": "enq-0001",
                    "correlation_id": "corr-1",
                    "code": "RequestThrottled",
                },
            )
        ]

    def test_not_needed_the_worker_took_it(self, world: World, log: Records) -> None:
        world.queue.fail(Lost(READ_TIMEOUT), *[UNAVAILABLE] * 3)
        world.jobs.fail("save", _worker_takes(world))

        assert world.submit() == Accepted("job-0001")
        assert self.records(log) == [
            (
                "INFO",
                "rollback not needed: job accepted",
                {"job_id": "job-0001", "enqueue_id": "enq-0001", "correlation_id": "corr-1", "found": "PROCESSING"},
            )
        ]
        assert world.metrics.counts["JobsAccepted"] == 1 and world.metrics.counts["RollbackFailures"] == 0

    def test_refused_the_job_moved_on(self, world: World, log: Records) -> None:
        world.queue.fail(*[THROTTLED] * 4)

        def another_episode() -> None:  # the job became another request's
            job = world.jobs.jobs["job-0001"]
            world.jobs.jobs["job-0001"] = attrs.evolve(job, enqueue_id="enq-other", version=job.version + 5)

        world.jobs.fail("save", Meanwhile(another_episode))

        outcome = world.submit()

        assert isinstance(outcome, Unsettled) and outcome == Unsettled("job-0001", outcome.error)
        assert outcome.error.kind is FailureKind.THROTTLED
        assert self.records(log) == [
            (
                "ERROR",
                "rollback refused: job moved",
                {"job_id": "job-0001", "enqueue_id": "enq-0001", "correlation_id": "corr-1", "found": "QUEUED"},
            )
        ]
        assert world.metrics.counts["RollbackFailures"] == 1

    def test_failed_left_to_the_reconciler(self, world: World, log: Records) -> None:
        world.queue.fail(*[UNAVAILABLE] * 4)
        world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED, "ThrottlingException")] * 3)

        outcome = world.submit()

        assert isinstance(outcome, Unsettled) and outcome == Unsettled("job-0001", outcome.error)
        assert outcome.error.code == "ServiceUnavailable"
        assert self.records(log) == [
            (
                "ERROR",
                "rollback failed; left to the reconciler",
                {
                    "job_id": "job-0001",
                    "enqueue_id": "enq-0001",
                    "correlation_id": "corr-1",
                    "code": "ServiceUnavailable",
                    "rollback_code": "ThrottlingException",
                    "rollback_kind": "throttled",
                },
            )
        ]
        assert world.metrics.counts["RollbackFailures"] == 1


class TestAKeyedCreateThatDidNotGoThrough:
    """The create surely did not land (throttled, not ambiguous), but the
    key may name a job from an earlier request: each answer, exactly."""

    THROTTLED_STORE = store_failure(FailureKind.THROTTLED, "ThrottlingException")

    def fail_creates(self, world: World) -> None:
        world.jobs.fail("create", *[self.THROTTLED_STORE] * 3)

    @staticmethod
    def error(world: World, code: str = "ThrottlingException") -> LastError:
        # The store failed, and the error names it (a 503 says store-unavailable).
        return LastError(code, FailureKind.THROTTLED, "injected", world.clock.now(), service=Service.STORE)

    def test_no_earlier_job_is_a_503_that_names_none(self, world: World) -> None:
        self.fail_creates(world)

        assert world.submit(key="k1") == Unavailable(None, self.error(world), 1)
        assert world.jobs.calls["get"] == 1

    def test_an_earlier_accepted_job_is_replayed(self, world: World) -> None:
        world.submit(key="k1")
        self.fail_creates(world)

        assert world.submit(key="k1") == Accepted(K1, replayed=True)

    def test_an_earlier_job_with_another_body_is_422(self, world: World) -> None:
        world.submit(key="k1")
        self.fail_creates(world)

        assert world.submit(key="k1", payload={"n": 2}) == KeyReused(K1)

    def test_an_earlier_job_pending_after_a_503_is_a_503_that_names_it(self, world: World) -> None:
        world.queue.fail(*[THROTTLED] * 4)
        world.submit(key="k1")
        self.fail_creates(world)

        assert world.submit(key="k1") == Unavailable(K1, self.error(world), 1)

    def test_an_earlier_job_still_in_flight_elsewhere_is_409(self, world: World) -> None:
        world.queue.fail(*[UNAVAILABLE] * 4)
        world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED)] * 3)
        world.submit(key="k1")  # QUEUED, unconfirmed, its lease running
        self.fail_creates(world)

        assert world.submit(key="k1") == InFlight(K1)

    def test_an_earlier_job_abandoned_in_queued_is_an_unsettled_500(self, world: World) -> None:
        world.queue.fail(*[UNAVAILABLE] * 4)
        world.jobs.fail("save", *[store_failure(FailureKind.THROTTLED)] * 3)
        world.submit(key="k1")
        world.clock.advance(60)  # its lease is over: neither replayable nor PENDING
        self.fail_creates(world)

        assert world.submit(key="k1") == Unsettled(K1, self.error(world))

    def test_a_read_that_fails_too_is_an_unsettled_500(self, world: World) -> None:
        self.fail_creates(world)
        world.jobs.fail("get", *[self.THROTTLED_STORE] * 3)

        assert world.submit(key="k1") == Unsettled(K1, self.error(world))


class TestARotationOfTheIdKey:
    """While the id key is rotated, a key's job may have been made under
    the rotation's other key: the request is about that job."""

    @staticmethod
    def rotated(world: World) -> None:
        # An environment of the rotation's second phase: ids with key 2, key 1 the previous.
        world.ids = FakeIds(key=2, other_key=1)

    def test_a_key_whose_job_was_made_with_the_other_key_is_answered_for_that_job(self, world: World) -> None:
        world.submit(key="k1")
        self.rotated(world)

        assert world.submit(key="k1") == Accepted(K1, replayed=True)
        assert set(world.jobs.jobs) == {K1}

    def test_a_new_key_is_made_with_the_current_key(self, world: World) -> None:
        self.rotated(world)

        assert world.submit(key="k1") == Accepted(keyed_id(CALLER, "k1", 2))

    def test_another_body_under_the_other_keys_job_is_422_naming_it(self, world: World) -> None:
        world.submit(key="k1")
        self.rotated(world)

        assert world.submit(key="k1", payload={"n": 2}) == KeyReused(K1)

    def test_a_refused_create_looks_for_the_key_under_both_ids(self, world: World) -> None:
        world.submit(key="k1")
        self.rotated(world)
        world.jobs.fail("create", *[store_failure(FailureKind.THROTTLED)] * 3)
        gets = world.jobs.calls["get"]

        assert world.submit(key="k1") == Accepted(K1, replayed=True)
        assert world.jobs.calls["get"] - gets == 2

    def test_a_pending_job_under_the_other_id_is_re_driven_under_its_own_id(self, world: World) -> None:
        world.queue.fail(*[THROTTLED] * 4)
        world.submit(key="k1")
        self.rotated(world)

        assert world.submit(key="k1") == Accepted(K1)
        assert set(world.jobs.jobs) == {K1} and world.jobs.jobs[K1].accepted
