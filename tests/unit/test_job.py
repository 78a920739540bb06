from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from domain.failures import FailureKind, LastError, Service
from domain.job import Expected, IllegalTransition, Job, JobStatus, Retention, Watch
from tests.fakes import EPOCH, submitted


def new_job() -> Job:
    return submitted("j")


def queued() -> Job:
    return new_job().queued(enqueue_id="e1", correlation_id="c", at=EPOCH, lease_until=EPOCH)


ERROR = LastError("Boom", FailureKind.THROTTLED, "slow down", EPOCH)


def test_a_submitted_job_is_pending_at_version_zero() -> None:
    job = new_job()
    assert (job.status, job.version, job.attempts) == (JobStatus.PENDING, 0, 0)
    assert not job.accepted
    assert (job.correlation_id, job.created_at, job.updated_at) == ("c", EPOCH, EPOCH)


def test_queueing_opens_an_unconfirmed_episode_with_a_lease() -> None:
    job = queued()
    assert job.status is JobStatus.QUEUED
    assert job.enqueue_id == "e1"
    assert job.awaiting_confirmation and not job.accepted
    assert job.version == 1


def test_every_move_counts_one_version_and_stamps_its_time() -> None:
    later = EPOCH + timedelta(seconds=1)
    claimed = queued().processing(claim_id="claim-1", at=EPOCH, until=EPOCH)
    moves = [
        (new_job(), new_job().queued(enqueue_id="e1", correlation_id="c", at=later, lease_until=later)),
        (queued(), queued().sent(attempts=1, at=later)),
        (queued(), queued().rolled_back(error=ERROR, attempts=0, at=later)),
        (queued(), queued().failed(error=ERROR, at=later)),
        (queued(), queued().processing(claim_id="claim-1", at=later, until=later)),
        (claimed, claimed.succeeded(at=later)),
        (claimed, claimed.failed(error=ERROR, at=later)),
        (claimed, claimed.retrying(error=ERROR, at=later)),
    ]
    for before, after in moves:
        assert (after.version, after.updated_at) == (before.version + 1, later)


def test_a_confirmed_send_makes_the_job_accepted_and_counts_attempts() -> None:
    job = queued().sent(attempts=3, at=EPOCH)
    assert job.accepted and not job.awaiting_confirmation
    assert (job.attempts, job.enqueue_id, job.lease_until) == (3, "e1", None)


def test_rollback_returns_to_pending_and_drops_the_fencing_token() -> None:
    job = queued().rolled_back(error=ERROR, attempts=2, at=EPOCH)
    assert job.status is JobStatus.PENDING
    assert (job.enqueue_id, job.unconfirmed_since, job.last_error, job.attempts) == (None, None, ERROR, 2)
    assert job.lease_until is None  # PENDING is nobody's


def test_a_claim_ends_the_producers_hold_even_before_its_confirmation() -> None:
    claimed = queued().processing(claim_id="claim-1", at=EPOCH, until=EPOCH)
    assert (claimed.unconfirmed_since, claimed.lease_until) == (None, None)


def test_the_worker_keeps_the_enqueue_id_so_a_late_producer_recognises_it() -> None:
    job = queued().processing(claim_id="claim-x", at=EPOCH, until=EPOCH)
    assert (job.status, job.enqueue_id, job.accepted) == (JobStatus.PROCESSING, "e1", True)
    assert job.succeeded(at=EPOCH).status is JobStatus.SUCCEEDED


@pytest.mark.parametrize(
    "move",
    [
        lambda j: j.processing(claim_id="claim-x", at=EPOCH, until=EPOCH),
        lambda j: j.rolled_back(error=ERROR, attempts=0, at=EPOCH),
        lambda j: j.succeeded(at=EPOCH),
    ],
)
def test_illegal_transitions_from_pending_are_refused(move) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IllegalTransition, match=r"^job j: PENDING -> [A-Z]+ is not allowed$"):
        move(new_job())


def test_a_confirmed_job_cannot_be_confirmed_twice() -> None:
    with pytest.raises(IllegalTransition, match="only an unconfirmed QUEUED job is confirmed, not a confirmed QUEUED"):
        queued().sent(attempts=1, at=EPOCH).sent(attempts=1, at=EPOCH)


def test_confirming_a_pending_job_says_why_it_is_refused() -> None:
    # PENDING -> QUEUED is allowed; confirming is what is not.
    with pytest.raises(IllegalTransition, match="only an unconfirmed QUEUED job is confirmed, not PENDING"):
        new_job().sent(attempts=1, at=EPOCH)


def test_terminal_states_go_nowhere() -> None:
    done = queued().processing(claim_id="claim-x", at=EPOCH, until=EPOCH).succeeded(at=EPOCH)
    with pytest.raises(IllegalTransition):
        done.queued(enqueue_id="e2", correlation_id="c", at=EPOCH, lease_until=EPOCH)


def test_expected_names_the_state_a_write_insists_on() -> None:
    assert Expected.of(queued()) == Expected("j", JobStatus.QUEUED, 1, "e1", EPOCH)


def test_only_its_owner_sees_a_job() -> None:
    job = submitted("j", owner="alice")
    assert job.visible_to("alice") and not job.visible_to("bob") and not job.visible_to("")


def test_a_job_expires_a_retention_after_it_settles_and_never_while_in_flight() -> None:
    retention = Retention(timedelta(days=30))
    error = LastError("Throttled", FailureKind.THROTTLED, "slow down", EPOCH)
    in_flight = queued()
    settled = in_flight.rolled_back(error=error, attempts=1, at=EPOCH + timedelta(hours=1))

    assert retention.expires_at(in_flight) is None
    assert not retention.expired(in_flight, EPOCH + timedelta(days=1000))
    assert retention.expires_at(settled) == EPOCH + timedelta(days=30, hours=1)
    assert not retention.expired(settled, EPOCH + timedelta(days=30, hours=1) - timedelta(microseconds=1))
    assert retention.expired(settled, EPOCH + timedelta(days=30, hours=1))
    late = in_flight.rolled_back(error=error, attempts=1, at=EPOCH + timedelta(microseconds=1))
    assert retention.expires_at(late) == EPOCH + timedelta(days=30, seconds=1)  # whole seconds, rounded up
    taken = in_flight.processing(claim_id="c1", at=EPOCH, until=EPOCH)
    assert retention.expires_at(taken) is None
    done = taken.succeeded(at=EPOCH)
    assert retention.expires_at(done) is None  # kept until its completion event is on the bus
    assert retention.expires_at(done.announced()) == EPOCH + timedelta(days=30)


def test_a_lease_ends_at_its_moment_and_no_lease_is_an_ended_one() -> None:
    job = queued()  # its lease_until is EPOCH
    assert job.lease_until == EPOCH
    assert not job.lease_expired(EPOCH - timedelta(microseconds=1))
    assert job.lease_expired(EPOCH)
    assert attrs.evolve(job, lease_until=None).lease_expired(EPOCH - timedelta(days=1))


def test_a_final_job_holds_no_timer() -> None:
    confirmed = queued().sent(attempts=1, at=EPOCH)
    claimed = confirmed.processing(claim_id="claim-1", at=EPOCH, until=EPOCH)
    finals = [
        queued().failed(error=ERROR, at=EPOCH),
        confirmed.failed(error=ERROR, at=EPOCH),
        claimed.failed(error=ERROR, at=EPOCH),
        claimed.succeeded(at=EPOCH),
    ]
    for final in finals:
        assert [final.unconfirmed_since, final.lease_until, final.sent_at, final.claim_until] == [None] * 4
        # Only its completion event is left to watch for, from the moment it ended.
        assert (final.watch, final.watched_since) == (Watch.EVENT, EPOCH)
        assert final.announced().watch is None


def test_a_retry_queues_the_job_again_under_its_episode_and_frees_its_claim() -> None:
    claimed = queued().sent(attempts=1, at=EPOCH).processing(claim_id="claim-1", at=EPOCH, until=EPOCH)
    job = claimed.retrying(error=ERROR, at=EPOCH)
    assert (job.status, job.enqueue_id, job.claims, job.last_error) == (JobStatus.QUEUED, "e1", 1, ERROR)
    assert (job.claim_id, job.claim_until, job.watch, job.watched_since) == (None, None, Watch.DELIVERY, EPOCH)


def test_an_announcement_counts_a_version_and_leaves_the_time_of_the_end() -> None:
    done = queued().processing(claim_id="claim-1", at=EPOCH, until=EPOCH).succeeded(at=EPOCH)
    announced = done.announced()
    assert (announced.version, announced.updated_at, announced.event_due) == (done.version + 1, EPOCH, None)


@pytest.mark.parametrize("announced_twice", [False, True])
def test_only_a_final_job_with_its_event_due_is_announced(announced_twice: bool) -> None:
    done = queued().processing(claim_id="claim-1", at=EPOCH, until=EPOCH).succeeded(at=EPOCH)
    job, status = (done.announced(), "SUCCEEDED") if announced_twice else (queued(), "QUEUED")
    with pytest.raises(
        IllegalTransition, match=f"^job j: only a final job with an event due is announced, not {status}$"
    ):
        job.announced()


WORDING = "User: arn:aws:sts::123456789012:assumed-role/api/fn is not authorized"


@pytest.mark.parametrize("service", list(Service))
@pytest.mark.parametrize("kind", list(FailureKind))
def test_a_client_never_reads_an_outside_services_wording(service: Service, kind: FailureKind) -> None:
    told = LastError("AccessDenied", kind, WORDING, EPOCH, service).told
    assert "arn:" not in told and told.startswith("the ")


@pytest.mark.parametrize(
    ("service", "kind", "told"),
    [
        (Service.QUEUE, FailureKind.THROTTLED, "the queue (SQS) refused the request for load"),
        (
            Service.STORE,
            FailureKind.AMBIGUOUS,
            "the job store (DynamoDB) did not say whether it carried the request out",
        ),
        (Service.EVENTS, FailureKind.NOT_SENT, "the event bus (EventBridge) could not be reached"),
        (Service.QUEUE, FailureKind.CLIENT_CONTENT, "the queue (SQS) refused the job's content"),
        (Service.STORE, FailureKind.DEADLINE, "the job store (DynamoDB) failed"),
    ],
)
def test_an_outside_failure_is_told_by_its_service_and_kind(service: Service, kind: FailureKind, told: str) -> None:
    assert LastError("Code", kind, WORDING, EPOCH, service).told == told


def test_the_services_own_verdicts_are_told_as_written() -> None:
    assert LastError("Doomed", FailureKind.PROCESSING, "width must be positive", EPOCH).told == "width must be positive"
