"""The owner's cancel and re-run, on fakes: every state a job can be in when
either arrives, the worker and the reconciler meeting a cancelled job, and
the store failing them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import attrs
import pytest

from domain.budget import CLOCK_SKEW
from domain.cancel import Cancelled, CancelRequested
from domain.enqueue import MOVED
from domain.failures import FailureKind
from domain.job import Job, JobStatus
from domain.outcomes import Accepted, Failed, InFlight, NotFound, Unavailable, Unsettled, WrongState
from domain.work import IncomingMessage, RetryLater, WorkResult
from ports.handlers import HandlerRegistry, JobCancelled, JobContext, RetryableJobError
from tests.fakes import Meanwhile
from tests.faults import Fault
from tests.unit.conftest import CALLER, World

KEY = "k"


def message_of(world: World, number: int = -1) -> IncomingMessage:
    sent = world.queue.sent[number]
    document = json.loads(sent.body)
    return IncomingMessage(sent.job_id, sent.enqueue_id, document["payload"], sent.correlation_id)


def accepted_job(world: World, payload: dict[str, Any] | None = None) -> str:
    outcome = world.submit(KEY, payload=payload)
    assert isinstance(outcome, Accepted)
    return outcome.job_id


def cancel(world: World, job_id: str, caller: str = CALLER) -> Any:
    return world.canceller()(job_id, caller, world.deadline())


def stored(world: World, job_id: str) -> Job:
    return world.jobs.jobs[job_id]


class Runs:
    """A handler registry whose one handler does what the test says."""

    def __init__(self, act: Any = None) -> None:
        self.contexts: list[JobContext] = []
        self.registry = HandlerRegistry()
        self.act = act

        @self.registry.handler("resize")
        def run(payload: dict[str, Any], context: JobContext) -> Any:
            self.contexts.append(context)
            return self.act(context) if self.act else {"done": payload}


def deliver(world: World, runs: Runs, number: int = -1) -> WorkResult | RetryLater:
    return world.worker(runs.registry)(message_of(world, number), world.deadline())


# -- cancel ----------------------------------------------------------------


def test_a_queued_job_is_cancelled_announced_and_its_message_dropped_unrun(world: World) -> None:
    job_id = accepted_job(world)

    outcome = cancel(world, job_id)

    assert isinstance(outcome, Cancelled) and outcome.job.status is JobStatus.CANCELLED
    assert stored(world, job_id).status is JobStatus.CANCELLED
    assert [event.status for event in world.bus.events] == ["CANCELLED"]
    assert stored(world, job_id).event_due is None  # the event is marked put
    runs = Runs()
    assert deliver(world, runs) is WorkResult.DUPLICATE and runs.contexts == []
    assert world.metrics.counts["JobsCancelled"] == 1


def test_a_pending_job_is_cancelled(world: World) -> None:
    world.queue.fail(*[Fault.THROTTLED] * 4)
    outcome = world.submit(KEY)
    assert isinstance(outcome, Unavailable) and outcome.job_id is not None

    cancelled = cancel(world, outcome.job_id)

    assert isinstance(cancelled, Cancelled) and stored(world, outcome.job_id).status is JobStatus.CANCELLED


def test_a_cancel_waits_for_the_producer_that_has_not_confirmed_until_its_lease_ends(world: World) -> None:
    job_id = "j-1"
    now = world.clock.now()
    job = attrs.evolve(
        accepted_job_as_unconfirmed(world, job_id),
        lease_until=now + timedelta(seconds=30),
    )
    world.jobs.jobs[job_id] = job

    assert isinstance(cancel(world, job_id), InFlight)
    assert stored(world, job_id) == job

    world.clock.advance(31)
    assert isinstance(cancel(world, job_id), Cancelled)


def accepted_job_as_unconfirmed(world: World, job_id: str) -> Job:
    now = world.clock.now()
    return Job.submitted(
        job_id=job_id,
        job_type="resize",
        request_hash="h",
        correlation_id="c",
        owner=CALLER,
        idempotency_key=None,
        at=now,
        payload="{}",
    ).queued(enqueue_id="e1", correlation_id="c", at=now, lease_until=now)


def test_a_cancel_of_a_cancelled_job_answers_it_again_and_writes_nothing(world: World) -> None:
    job_id = accepted_job(world)
    cancel(world, job_id)
    saves = world.jobs.calls["save"]

    again = cancel(world, job_id)

    assert isinstance(again, Cancelled) and world.jobs.calls["save"] == saves


@pytest.mark.parametrize("final", [JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_a_final_job_is_not_cancelled_and_the_answer_names_its_status(world: World, final: JobStatus) -> None:
    job_id = accepted_job(world)
    runs = Runs(None if final is JobStatus.SUCCEEDED else _permanent)
    deliver(world, runs)
    before = stored(world, job_id)

    outcome = cancel(world, job_id)

    assert outcome == WrongState(job_id, final.value, "a final job is not cancelled")
    assert stored(world, job_id) == before


def _permanent(context: JobContext) -> None:
    from ports.handlers import PermanentJobError

    raise PermanentJobError("bad payload")


def test_another_callers_job_and_a_missing_one_are_not_found(world: World) -> None:
    job_id = accepted_job(world)

    assert cancel(world, job_id, caller="mallory") == NotFound(job_id)
    assert cancel(world, "no-such-job") == NotFound("no-such-job")
    assert stored(world, job_id).status is JobStatus.QUEUED


@pytest.mark.parametrize(
    ("fault", "answer"),
    [(Fault.THROTTLED, Unavailable), (Fault.LOST, Unsettled), (Fault.PERMANENT, Failed)],
)
def test_a_cancel_the_store_fails_says_whether_it_may_have_landed(world: World, fault: Fault, answer: type) -> None:
    job_id = accepted_job(world)
    world.jobs.fail("save", *[fault] * 3)

    outcome = cancel(world, job_id)

    assert isinstance(outcome, answer)
    landed = stored(world, job_id).status is JobStatus.CANCELLED
    assert landed is (fault is Fault.LOST)


def test_a_cancel_that_loses_to_a_claim_asks_the_running_handler_to_stop(world: World) -> None:
    job_id = accepted_job(world)
    now = world.clock.now()

    def claim() -> None:
        job = stored(world, job_id)
        world.jobs.jobs[job_id] = job.processing(claim_id="c1", at=now, until=now + timedelta(seconds=60))

    world.jobs.fail("save", Meanwhile(claim))

    outcome = cancel(world, job_id)

    assert isinstance(outcome, CancelRequested)
    job = stored(world, job_id)
    assert (job.status, job.cancel_requested, job.claim_id) == (JobStatus.PROCESSING, True, "c1")
    assert world.bus.events == []


# -- a running handler asked to stop ------------------------------------------


def cancel_while_running(world: World, job_id: str, then: Any) -> Any:
    """The handler: its owner cancels the job, then the handler does ``then``."""

    def act(context: JobContext) -> Any:
        assert not context.cancel_requested()
        assert isinstance(cancel(world, job_id), CancelRequested)
        assert context.cancel_requested()
        return then(context)

    return act


def test_a_handler_that_stops_on_the_cancel_ends_the_job_cancelled(world: World) -> None:
    job_id = accepted_job(world)

    def stop(context: JobContext) -> None:
        raise JobCancelled()

    result = deliver(world, Runs(cancel_while_running(world, job_id, stop)))

    assert result is WorkResult.PROCESSED
    assert stored(world, job_id).status is JobStatus.CANCELLED
    assert [event.status for event in world.bus.events] == ["CANCELLED"]


def test_a_handler_that_raises_job_cancelled_unasked_fails_the_job(world: World) -> None:
    job_id = accepted_job(world)

    def stop(context: JobContext) -> None:
        raise JobCancelled()

    deliver(world, Runs(stop))

    job = stored(world, job_id)
    assert job.status is JobStatus.FAILED and job.last_error is not None and job.last_error.code == "JobCancelled"


def test_a_producer_whose_job_a_worker_took_and_its_owner_cancelled_still_answers_202(world: World) -> None:
    """The confirmation loses to a claim, a retry and a cancel: the job was
    accepted (a worker took it), whatever came after."""
    runs = Runs(_retryable)

    def taken_and_cancelled() -> None:
        deliver(world, runs)
        job_id = world.queue.sent[-1].job_id
        assert isinstance(cancel(world, job_id), Cancelled)

    world.jobs.fail("save", Meanwhile(taken_and_cancelled))

    outcome = world.submit(KEY)

    assert isinstance(outcome, Accepted)
    assert stored(world, outcome.job_id).status is JobStatus.CANCELLED and len(runs.contexts) == 1


def _retryable(context: JobContext) -> None:
    raise RetryableJobError("busy")


def test_a_handler_that_finishes_despite_the_cancel_ends_the_job_as_it_left_it(world: World) -> None:
    job_id = accepted_job(world)

    result = deliver(world, Runs(cancel_while_running(world, job_id, lambda context: {"ok": True})))

    assert result is WorkResult.PROCESSED
    job = stored(world, job_id)
    assert (job.status, job.result, job.cancel_requested) == (JobStatus.SUCCEEDED, '{"ok":true}', True)


def test_a_handler_that_fails_after_the_cancel_is_not_retried(world: World) -> None:
    job_id = accepted_job(world)

    def fail(context: JobContext) -> None:
        raise RetryableJobError("flaky")

    result = deliver(world, Runs(cancel_while_running(world, job_id, fail)))

    assert result is WorkResult.PROCESSED  # acknowledged: nothing comes back
    assert stored(world, job_id).status is JobStatus.CANCELLED


def test_a_lapsed_claim_on_a_job_asked_to_stop_is_cancelled_not_run_again(world: World) -> None:
    job_id = accepted_job(world)

    def die(context: JobContext) -> None:
        cancel(world, job_id)
        raise SystemExit  # the invocation dies: its claim is left to lapse

    with pytest.raises(SystemExit):
        deliver(world, Runs(die))
    world.clock.advance((timedelta(seconds=60) + CLOCK_SKEW).total_seconds())
    runs = Runs()

    assert deliver(world, runs) is WorkResult.CANCELLED
    assert runs.contexts == [] and stored(world, job_id).status is JobStatus.CANCELLED
    assert [event.status for event in world.bus.events] == ["CANCELLED"]


def test_the_reconciler_cancels_a_job_asked_to_stop_whose_message_is_gone(world: World) -> None:
    job_id = accepted_job(world)

    def die(context: JobContext) -> None:
        cancel(world, job_id)
        raise SystemExit

    with pytest.raises(SystemExit):
        deliver(world, Runs(die))
    world.clock.advance(timedelta(days=30).total_seconds())

    world.reconciler(timedelta(seconds=300))(world.deadline())

    assert stored(world, job_id).status is JobStatus.CANCELLED
    assert [event.status for event in world.bus.events] == ["CANCELLED"]


def test_a_handler_not_asked_to_stop_reads_false_and_a_failed_read_reads_false(world: World) -> None:
    job_id = accepted_job(world)
    seen: list[bool] = []

    def look(context: JobContext) -> None:
        seen.append(context.cancel_requested())
        world.jobs.fail("get", *[Fault.THROTTLED] * 3)
        seen.append(context.cancel_requested())

    deliver(world, Runs(look))

    assert seen == [False, False] and stored(world, job_id).status is JobStatus.SUCCEEDED


# -- re-run ----------------------------------------------------------------


def rerun(world: World, job_id: str, caller: str = CALLER) -> Any:
    return world.enqueue().rerun(job_id, caller, "corr-rerun", world.deadline())


def test_a_failed_job_is_re_run_from_its_stored_payload_as_a_new_episode(world: World) -> None:
    job_id = accepted_job(world, payload={"width": 7})
    deliver(world, Runs(_permanent))
    failed = stored(world, job_id)

    outcome = rerun(world, job_id)

    assert outcome == Accepted(job_id)
    job = stored(world, job_id)
    assert job.status is JobStatus.QUEUED and job.enqueue_id != failed.enqueue_id and job.claims == 0
    assert job.created_at == failed.created_at and job.correlation_id == "corr-rerun"
    assert json.loads(world.queue.sent[-1].body)["payload"] == {"width": 7}
    runs = Runs()
    assert deliver(world, runs) is WorkResult.PROCESSED
    assert stored(world, job_id).status is JobStatus.SUCCEEDED and runs.contexts[0].attempt == 1


def test_a_cancelled_job_is_re_run(world: World) -> None:
    job_id = accepted_job(world)
    cancel(world, job_id)

    assert rerun(world, job_id) == Accepted(job_id)
    assert deliver(world, Runs()) is WorkResult.PROCESSED
    assert stored(world, job_id).status is JobStatus.SUCCEEDED


def test_a_re_run_that_cannot_send_is_503_and_can_be_re_run_again(world: World) -> None:
    job_id = accepted_job(world)
    cancel(world, job_id)
    world.queue.fail(*[Fault.THROTTLED] * 4)

    assert isinstance(rerun(world, job_id), Unavailable)
    assert stored(world, job_id).status is JobStatus.PENDING
    assert rerun(world, job_id) == Accepted(job_id)


@pytest.mark.parametrize("state", ["QUEUED", "SUCCEEDED"])
def test_a_job_in_flight_or_succeeded_is_not_re_run(world: World, state: str) -> None:
    job_id = accepted_job(world)
    if state == "SUCCEEDED":
        deliver(world, Runs())
    before = stored(world, job_id)

    outcome = rerun(world, job_id)

    assert isinstance(outcome, WrongState) and outcome.status == state
    assert stored(world, job_id) == before


def test_a_job_whose_event_is_not_yet_put_is_re_run_only_after(world: World) -> None:
    job_id = accepted_job(world)
    world.bus.fail(*[Fault.PERMANENT])
    cancel(world, job_id)
    assert stored(world, job_id).event_due is not None

    refused = rerun(world, job_id)
    assert isinstance(refused, InFlight) and "still being announced" in (refused.why or "")

    world.clock.advance(3600)
    world.reconciler(timedelta(seconds=300))(world.deadline())
    assert rerun(world, job_id) == Accepted(job_id)


def test_a_job_stored_before_payloads_were_kept_is_not_re_run(world: World) -> None:
    job_id = accepted_job(world)
    cancel(world, job_id)
    world.jobs.jobs[job_id] = attrs.evolve(stored(world, job_id), payload=None)

    outcome = rerun(world, job_id)

    assert isinstance(outcome, WrongState) and "before payloads were kept" in outcome.why


def test_another_callers_job_is_not_found_for_a_re_run(world: World) -> None:
    job_id = accepted_job(world)
    cancel(world, job_id)

    assert rerun(world, job_id, caller="mallory") == NotFound(job_id)
    assert rerun(world, "missing") == NotFound("missing")


@pytest.mark.parametrize(("fault", "answer"), [(Fault.THROTTLED, Unavailable), (Fault.LOST, Unsettled)])
def test_a_re_run_whose_first_write_fails_leaves_the_job_as_it_was(world: World, fault: Fault, answer: type) -> None:
    job_id = accepted_job(world)
    cancel(world, job_id)
    world.jobs.fail("save", *[fault] * 3)

    outcome = rerun(world, job_id)

    assert isinstance(outcome, answer)
    status = stored(world, job_id).status
    assert status is (JobStatus.QUEUED if fault is Fault.LOST else JobStatus.CANCELLED)


def test_a_re_run_losing_to_a_cancel_answers_in_flight(world: World) -> None:
    job_id = accepted_job(world)
    deliver(world, Runs(_permanent))
    failed = stored(world, job_id)
    world.jobs.fail("save", Meanwhile(lambda: world.jobs.jobs.update({job_id: attrs.evolve(failed, version=99)})))

    assert rerun(world, job_id) == InFlight(job_id, MOVED)


def test_the_same_key_after_a_cancel_does_not_start_the_job_again(world: World) -> None:
    job_id = accepted_job(world)
    cancel(world, job_id)
    sent = len(world.queue.sent)

    outcome = world.submit(KEY)

    assert isinstance(outcome, WrongState) and outcome.status == "CANCELLED" and "/retry" in outcome.why
    assert len(world.queue.sent) == sent


def test_a_rolled_back_job_from_a_permanent_failure_is_re_run_when_asked(world: World) -> None:
    world.queue.fail(Fault.PERMANENT)
    outcome = world.submit(KEY)
    assert isinstance(outcome, Failed) and outcome.job_id is not None
    error = stored(world, outcome.job_id).last_error
    assert error is not None and error.kind is FailureKind.PERMANENT

    # The same key replays the 500; a re-run tries again.
    assert isinstance(world.submit(KEY), Failed)
    assert rerun(world, outcome.job_id) == Accepted(outcome.job_id)


def test_every_episode_stores_the_payload_the_message_carries(world: World) -> None:
    job_id = accepted_job(world, payload={"é": [1, 2.5, None]})
    assert stored(world, job_id).payload == '{"é":[1,2.5,null]}'
