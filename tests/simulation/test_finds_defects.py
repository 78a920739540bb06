"""The exploration can fail: given the worker as it was before the fix (a
claim lost to any write answered "duplicate" and acknowledged), it finds
the lost job the outside review found, and prints its schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs
import pytest

from chaos.faults import Crash
from domain.budget import Budget
from domain.job import Expected, Job
from domain.work import IncomingMessage, ProcessJobMessage, RetryLater, WorkResult, judge
from ports.repository import ConditionFailed
from tests.simulation.actors import canceller, delivery, producer
from tests.simulation.explorer import Counterexample, Scenario, Scheduler, explore
from tests.simulation.world import Faults, World


class WorkerBeforeTheFix(ProcessJobMessage):
    """The claim as it was: a failed condition meant someone else's claim."""

    def __call__(self, message: IncomingMessage, invocation_end: datetime) -> WorkResult | RetryLater:
        job = self._jobs.get(message.job_id)
        verdict = judge(job, message)
        if verdict is not None or job is None:
            return verdict or WorkResult.STALE
        claimed = job.processing(claim_id=self._ids.new_claim_id(), at=self._clock.now(), until=invocation_end)
        try:
            self._store.run(lambda: self._jobs.save(claimed, Expected.of(job)), invocation_end)
        except ConditionFailed as exc:
            if exc.current != claimed:
                return judge(exc.current, message) or WorkResult.DUPLICATE
        return self._finish(claimed, message, Budget(invocation_end, invocation_end, invocation_end))


def producer_and_worker(scheduler: Scheduler) -> Scenario:
    world = World(scheduler)
    world.worker_class = WorkerBeforeTheFix
    return world.scenario([producer(world, "producer", "k"), delivery(world, "worker", 1)])


def test_the_lost_job_of_the_old_worker_is_found() -> None:
    with pytest.raises(Counterexample) as found:
        explore(producer_and_worker, expected=(Crash,))

    schedule = [(actor, step.op) for actor, step, _ in found.value.trace]
    # The worker read the job before the confirmation, claimed after it.
    assert schedule.index(("worker", "get")) < schedule.index(("producer", "save")) < schedule.index(("worker", "save"))
    assert "I1" in str(found.value)


def test_the_fixed_worker_passes_the_same_exploration() -> None:
    def fixed(scheduler: Scheduler) -> Scenario:
        world = World(scheduler)
        return world.scenario([producer(world, "producer", "k"), delivery(world, "worker", 1)])

    assert explore(fixed, expected=(Crash,)).executions > 1


class WorkerThatNeverClaims(ProcessJobMessage):
    """Always leaves the message for later: nothing is lost, nothing done."""

    def __call__(self, message: IncomingMessage, invocation_end: datetime) -> WorkResult:
        return WorkResult.BUSY


class WorkerThatDropsUnconfirmed(ProcessJobMessage):
    """Acknowledges a message whose job is not yet confirmed, unprocessed."""

    def __call__(self, message: IncomingMessage, invocation_end: datetime) -> WorkResult | RetryLater:
        job = self._jobs.get(message.job_id)
        if job is not None and job.awaiting_confirmation:
            return WorkResult.STALE
        return super().__call__(message, invocation_end)


@pytest.mark.parametrize("worker", [WorkerThatNeverClaims, WorkerThatDropsUnconfirmed])
@pytest.mark.parametrize("confirmation", ["ok", "crash-after"])
def test_a_worker_that_leaves_a_job_waiting_is_found_whatever_the_client_was_told(
    worker: type[ProcessJobMessage], confirmation: str
) -> None:
    def build(scheduler: Scheduler) -> Scenario:
        world = World(scheduler)
        world.worker_class = worker
        return world.scenario(
            [producer(world, "producer", "k"), delivery(world, "worker", 1)],
            {"producer": Faults({"save": [confirmation]})},
        )

    with pytest.raises(Counterexample):
        explore(build, expected=(Crash,))


def test_a_rotation_that_skips_its_first_phase_makes_two_jobs_of_one_key() -> None:
    """An environment that knows only the old key beside one that makes ids
    with the new: the guard on the old id cannot hold off a create that
    checks nothing, so one key gets two jobs (I9). Hence the first phase."""

    def skipped(scheduler: Scheduler) -> Scenario:
        world = World(scheduler)
        return world.scenario(
            [producer(world, "old-only", "k", id_keys=(1, None)), producer(world, "phase-2", "k", id_keys=(2, 1))]
        )

    with pytest.raises(Counterexample) as found:
        explore(skipped, expected=(Crash,))

    assert "I9" in str(found.value)
    schedule = [(actor, step.op) for actor, step, _ in found.value.trace]
    assert schedule.index(("phase-2", "create")) < schedule.index(("old-only", "create"))


def test_a_rotation_in_its_two_phases_keeps_one_job_per_key() -> None:
    def phased(scheduler: Scheduler) -> Scenario:
        world = World(scheduler)
        return world.scenario(
            [producer(world, "phase-1", "k", id_keys=(1, 2)), producer(world, "phase-2", "k", id_keys=(2, 1))]
        )

    assert explore(phased, expected=(Crash,)).executions > 1


class WorkerDeafToCancels(ProcessJobMessage):
    """A worker that takes over a lapsed claim without looking at its
    owner's cancel request: it runs the cancelled job again."""

    def _next_move(self, job: Job | None, message: IncomingMessage, claim_until: datetime) -> Job | WorkResult:
        if job is not None and job.cancel_requested:
            job = attrs.evolve(job, cancel_requested=False)
            move = super()._next_move(job, message, claim_until)
            return attrs.evolve(move, cancel_requested=True) if isinstance(move, Job) else move
        return super()._next_move(job, message, claim_until)


def cancel_of_a_dead_worker(worker: type[ProcessJobMessage]) -> Callable[[Scheduler], Scenario]:
    def make(scheduler: Scheduler) -> Scenario:
        world = World(scheduler)
        world.worker_class = worker
        return world.scenario(
            [producer(world, "producer", "k"), delivery(world, "worker", 1), canceller(world, "cancel", "k")],
            {"worker": Faults({"step": ["crash"]})},
        )

    return make


def test_a_takeover_that_runs_a_job_asked_to_stop_is_found() -> None:
    with pytest.raises(Counterexample) as found:
        explore(cancel_of_a_dead_worker(WorkerDeafToCancels), expected=(Crash,))

    assert "I10" in str(found.value)
    assert explore(cancel_of_a_dead_worker(ProcessJobMessage), expected=(Crash,)).executions > 1
