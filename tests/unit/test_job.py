from __future__ import annotations

import pytest

from domain.failures import FailureKind, LastError
from domain.job import Expected, IllegalTransition, Job, JobStatus
from tests.fakes import EPOCH


def new_job() -> Job:
    return Job.submitted(job_id="j", job_type="t", request_hash="h", correlation_id="c", idempotency_key=None, at=EPOCH)


def queued() -> Job:
    return new_job().queued(enqueue_id="e1", correlation_id="c", at=EPOCH, lease_until=EPOCH)


ERROR = LastError("Boom", FailureKind.THROTTLED, "slow down", EPOCH)


def test_a_submitted_job_is_pending_at_version_zero() -> None:
    job = new_job()
    assert (job.status, job.version, job.attempts) == (JobStatus.PENDING, 0, 0)
    assert not job.accepted


def test_queueing_opens_an_unconfirmed_episode_with_a_lease() -> None:
    job = queued()
    assert job.status is JobStatus.QUEUED
    assert job.enqueue_id == "e1"
    assert job.awaiting_confirmation and not job.accepted
    assert job.version == 1


def test_a_confirmed_send_makes_the_job_accepted_and_counts_attempts() -> None:
    job = queued().sent(attempts=3, at=EPOCH)
    assert job.accepted and not job.awaiting_confirmation
    assert (job.attempts, job.enqueue_id, job.lease_until) == (3, "e1", None)


def test_rollback_returns_to_pending_and_drops_the_fencing_token() -> None:
    job = queued().rolled_back(error=ERROR, attempts=2, at=EPOCH)
    assert job.status is JobStatus.PENDING
    assert (job.enqueue_id, job.unconfirmed_since, job.last_error, job.attempts) == (None, None, ERROR, 2)


def test_the_worker_keeps_the_enqueue_id_so_a_late_producer_recognises_it() -> None:
    job = queued().processing(claim_id="claim-x", at=EPOCH, until=EPOCH)
    assert (job.status, job.enqueue_id, job.accepted) == (JobStatus.PROCESSING, "e1", True)
    assert job.succeeded(at=EPOCH).status is JobStatus.SUCCEEDED


@pytest.mark.parametrize(
    "move",
    [
        lambda j: j.processing(claim_id="claim-x", at=EPOCH, until=EPOCH),
        lambda j: j.rolled_back(error=ERROR, attempts=0, at=EPOCH),
        lambda j: j.sent(attempts=1, at=EPOCH),
        lambda j: j.succeeded(at=EPOCH),
    ],
)
def test_illegal_transitions_from_pending_are_refused(move) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IllegalTransition):
        move(new_job())


def test_a_confirmed_job_cannot_be_confirmed_twice() -> None:
    with pytest.raises(IllegalTransition):
        queued().sent(attempts=1, at=EPOCH).sent(attempts=1, at=EPOCH)


def test_terminal_states_go_nowhere() -> None:
    done = queued().processing(claim_id="claim-x", at=EPOCH, until=EPOCH).succeeded(at=EPOCH)
    with pytest.raises(IllegalTransition):
        done.queued(enqueue_id="e2", correlation_id="c", at=EPOCH, lease_until=EPOCH)


def test_expected_names_the_state_a_write_insists_on() -> None:
    assert Expected.of(queued()) == Expected("j", JobStatus.QUEUED, 1, "e1")
