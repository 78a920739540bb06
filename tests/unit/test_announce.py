"""Completion events: put once the final state is stored, at least once,
and never for a state that was not: the reconciler puts what was missed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.failures import FailureKind
from domain.job import JobStatus, Watch
from domain.work import IncomingMessage, WorkResult
from ports.events import CompletionEvent
from ports.repository import StoreFailed
from tests.fakes import OnFakes, store_failure, submitted
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


def test_a_bus_that_refuses_leaves_the_mark_and_the_reconciler_puts_it_after_the_grace() -> None:
    service = Service()
    service.bus.fail(Fault.THROTTLED, Fault.THROTTLED, Fault.THROTTLED)

    assert service.deliver() is WorkResult.PROCESSED  # the message is done with, whatever the bus said

    job = service.jobs.jobs["j"]
    assert service.bus.events == [] and job.watch is Watch.EVENT
    assert service.metrics.counts["EventPutFailures"] == 1
    assert service.reconcile() == 0  # not before the grace: the worker may still be at it
    service.clock.advance(GRACE.total_seconds() + 1)
    assert service.reconcile() == 1
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
    [event] = service.bus.events
    assert (event.status, event.error and event.error.code) == ("FAILED", "MessageExpired")
    assert event.detail_type == "Job Failed" and service.jobs.jobs["j"].event_due is None
