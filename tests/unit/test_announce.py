"""Completion events: put once the final state is stored, at least once,
and never for a state that was not: the reconciler puts what was missed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain import failures
from domain.failures import FailureKind
from domain.job import JobStatus, Watch
from domain.reconcile import _settled as settled_state
from domain.work import IncomingMessage, WorkResult
from ports.events import CompletionEvent, EventPutFailed
from ports.repository import StoreFailed
from tests.conftest import Records
from tests.fakes import EPOCH, Meanwhile, OnFakes, store_failure, submitted
from tests.faults import Fault

GRACE = timedelta(seconds=300)


class Service:
    def __init__(self) -> None:
        self.fakes = OnFakes()
        self.jobs, self.bus, self.clock, self.metrics = (
            self.fakes.jobs,
            self.fakes.bus,
            self.fakes.clock,
            self.fakes.metrics,
        )
        self.work = self.fakes.worker(lambda job, payload: {"done": True})
        now = self.clock.now()
        job = submitted("j", now).queued(enqueue_id="e1", correlation_id="c", at=now, lease_until=now)
        self.jobs.jobs["j"] = job.sent(attempts=1, at=now)

    def deliver(self) -> WorkResult | object:
        return self.work(IncomingMessage("j", "e1", {}, "c"), self.clock.now() + timedelta(seconds=30))

    def reconcile(self) -> int:
        return self.fakes.reconciler(grace=GRACE)(self.clock.now() + timedelta(seconds=60)).settled


def test_a_finished_job_is_announced_with_its_result_then_marked() -> None:
    service = Service()

    assert service.deliver() is WorkResult.PROCESSED

    job = service.jobs.jobs["j"]
    [event] = service.bus.events
    assert event == CompletionEvent(
        job_id="j",
        owner="owner-1",
        job_type="t",
        status="SUCCEEDED",
        correlation_id="c",
        finished_at=job.updated_at,
        processing_attempts=1,
        result='{"done":true}',
    )
    assert event.detail_type == "Job Succeeded"
    assert job.event_due is None and job.watch is None  # nothing left to watch


def test_a_bus_that_refuses_leaves_the_mark_and_the_reconciler_puts_it_after_the_grace(
    log_of: Callable[[str], Records],
) -> None:
    log = log_of("jobs.reconcile")
    service = Service()
    service.bus.fail(Fault.THROTTLED, Fault.THROTTLED, Fault.THROTTLED)

    assert service.deliver() is WorkResult.PROCESSED  # the message is done with, whatever the bus said

    job = service.jobs.jobs["j"]
    assert service.bus.events == [] and job.watch is Watch.EVENT
    assert service.metrics.counts["EventPutFailures"] == 1
    assert service.reconcile() == 0  # not before the grace: the worker may still be at it
    service.clock.advance(GRACE.total_seconds() + 1)
    assert service.reconcile() == 1
    assert ("INFO", "completion event put again", {"job_id": "j"}) in log.of("job_id")
    assert [e.status for e in service.bus.events] == ["SUCCEEDED"]
    assert service.jobs.jobs["j"].event_due is None
    assert service.metrics.counts["CompletionEventsRepaired"] == 1


def test_a_mark_that_cannot_be_written_means_the_event_is_put_again() -> None:
    service = Service()
    # The completion write goes through, then every attempt to mark the event fails.
    service.jobs.fail("save", None, None, *[store_failure(FailureKind.THROTTLED)] * 3)

    service.deliver()
    service.clock.advance(GRACE.total_seconds() + 1)
    service.reconcile()

    # At least once: the second is the reconciler's.
    assert [e.status for e in service.bus.events] == ["SUCCEEDED", "SUCCEEDED"]
    assert service.jobs.jobs["j"].event_due is None


def test_no_event_is_put_for_a_final_state_that_was_not_stored() -> None:
    service = Service()
    # The claim goes through; the completion write never does.
    service.jobs.fail("save", None, *[store_failure(FailureKind.THROTTLED)] * 3)

    with pytest.raises(StoreFailed):  # the batch handler leaves the message for a later delivery
        service.deliver()

    assert service.jobs.jobs["j"].status is JobStatus.PROCESSING
    assert service.bus.events == []


def test_a_job_the_reconciler_fails_is_announced_by_it() -> None:
    service = Service()
    service.clock.advance(timedelta(days=5).total_seconds())  # no worker took it within the retention

    fakes = service.fakes
    settled = fakes.reconciler(grace=GRACE, retention=timedelta(days=4))(service.clock.now() + timedelta(seconds=60))

    assert settled.settled == 1
    assert service.metrics.by_type[("JobsFailed", "t")] == 1
    [event] = service.bus.events
    assert (event.status, event.error and event.error.code) == ("FAILED", "MessageExpired")
    assert event.detail_type == "Job Failed" and service.jobs.jobs["j"].event_due is None


class Announcing:
    """A SUCCEEDED job whose event is due, and the announcer of the service."""

    def __init__(self) -> None:
        self.fakes = OnFakes()
        self.jobs, self.bus, self.metrics = self.fakes.jobs, self.fakes.bus, self.fakes.metrics
        now = self.fakes.clock.now()
        job = submitted("j", now).queued(enqueue_id="e1", correlation_id="c", at=now, lease_until=now)
        job = job.sent(attempts=1, at=now).processing(claim_id="w", at=now, until=now + timedelta(seconds=30))
        self.job = job.succeeded(at=now, result="1")
        self.jobs.jobs["j"] = self.job
        self.settle_by = now + timedelta(seconds=20)

    def __call__(self) -> bool:
        return self.fakes.announcer()(self.job, self.settle_by)


ABOUT = {"job_id": "j", "correlation_id": "c", "status": "SUCCEEDED"}


def test_an_announcement_is_logged_with_the_job_and_reported_done(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.events")
    announcing = Announcing()

    assert announcing() is True

    assert log.of(*ABOUT) == [("INFO", "completion event put", ABOUT)]
    assert announcing.jobs.jobs["j"].event_due is None


def test_each_failed_put_is_logged_and_a_put_given_up_is_reported_not_done(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.events")
    announcing = Announcing()
    announcing.bus.fail(Fault.UNAVAILABLE, Fault.PERMANENT)
    unavailable, permanent = (fault.raised(failures.Service.EVENTS) for fault in (Fault.UNAVAILABLE, Fault.PERMANENT))
    assert isinstance(unavailable, EventPutFailed) and isinstance(permanent, EventPutFailed)

    assert announcing() is False

    fields = (*ABOUT, "attempt", "code", "kind", "error", "decision", "reason")
    assert log.of(*fields) == [
        (
            "WARNING",
            "event put failed",
            {
                **ABOUT,
                "attempt": 1,
                "code": unavailable.code,
                "kind": unavailable.kind.value,
                "error": "injected",
                "decision": "Retry",
            },
        ),
        (
            "WARNING",
            "event put failed",
            {
                **ABOUT,
                "attempt": 2,
                "code": permanent.code,
                "kind": permanent.kind.value,
                "error": "injected",
                "decision": "GiveUp",
                "reason": "not retryable",
            },
        ),
    ]
    assert announcing.metrics.counts["EventPutFailures"] == 1
    assert announcing.jobs.jobs["j"].event_due is not None  # the reconciler puts it again


def test_an_event_put_but_not_marked_is_reported_not_done(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.events")
    announcing = Announcing()
    announcing.jobs.fail("save", *[store_failure(FailureKind.THROTTLED, "Throttled")] * 3)

    assert announcing() is False

    assert announcing.bus.events != []
    assert log.of(*ABOUT, "code") == [
        ("WARNING", "completion event put, not marked; it may be put again", {**ABOUT, "code": "Throttled"})
    ]


def test_a_job_gone_meanwhile_is_put_and_logged_as_moved_on(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.events")
    announcing = Announcing()

    def expires() -> None:
        del announcing.jobs.jobs["j"]

    announcing.jobs.fail("save", Meanwhile(expires))

    assert announcing() is True

    assert log.of(*ABOUT) == [
        ("INFO", "completion event put; the job had moved on", ABOUT),
        ("INFO", "completion event put", ABOUT),
    ]


def test_its_own_mark_that_landed_unseen_is_not_taken_for_another_writer(log_of: Callable[[str], Records]) -> None:
    log = log_of("jobs.events")
    announcing = Announcing()
    announcing.jobs.fail("save", Fault.LOST)  # the mark lands; the retry's condition then fails on it

    assert announcing() is True

    assert [message for _, message, _ in log.of()] == ["completion event put"]
    assert announcing.jobs.jobs["j"].event_due is None


def test_a_job_whose_event_is_due_is_not_settled_by_a_change_of_state() -> None:
    done = Service().jobs.jobs["j"].processing(claim_id="w", at=EPOCH, until=EPOCH).succeeded(at=EPOCH)
    with pytest.raises(ValueError, match=r"^a job whose event is due is announced, not settled$"):
        settled_state(done, Watch.EVENT, EPOCH)
