"""The simulation's actors: each a Lambda invocation (or the clock, or an
adversary) running the real use cases over a world's ports, every call a
scheduling point."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from chaos.faults import Crash
from chaos.invariants import Answer
from domain.submission import Submission
from ports.repository import StoreFailed
from tests.fakes import FakeIds
from tests.simulation.explorer import Actor, Step
from tests.simulation.sim_ports import QUEUE, incoming
from tests.simulation.wiring import CALLER, GRACE, PRODUCER_TIMEOUT, WORKER_TIMEOUT
from tests.simulation.world import World


def producer(
    world: World,
    name: str,
    key: str | None,
    payload: dict[str, Any] | None = None,
    *,
    id_keys: tuple[int, int | None] = (1, None),
) -> Actor:
    """A request, in an environment that knows ``id_keys``: the id key it
    makes keyed ids with, and the rotation's other (``FakeIds``)."""
    world.id_keys[name] = id_keys

    def body() -> None:
        submission = Submission(
            job_type="t", payload=payload or {"n": 1}, correlation_id=name, caller=CALLER, idempotency_key=key
        )
        job_id = FakeIds(key=id_keys[0]).job_id_for_key(CALLER, key) if key else None
        end = world.arrive(name, PRODUCER_TIMEOUT)
        try:
            outcome = world.enqueue(name)(submission, end)
        except Crash:
            if job_id:
                world.answers.append(Answer(job_id, 0))
            raise
        world.answered(name, outcome)

    return Actor(name, body)


def canceller(world: World, name: str, key: str) -> Actor:
    """The owner cancels the job its Idempotency-Key named."""

    def body() -> None:
        end = world.arrive(name, PRODUCER_TIMEOUT)
        world.cancel_answered(name, world.cancel(name)(keyed_id(key), CALLER, end))

    return Actor(name, body)


def rerunner(world: World, name: str, key: str) -> Actor:
    """The owner re-runs the job its Idempotency-Key named (``POST
    /jobs/{id}/retry``); its name must begin with "rerun"."""
    assert name.startswith("rerun")

    def body() -> None:
        end = world.arrive(name, PRODUCER_TIMEOUT)
        job_id = keyed_id(key)
        try:
            outcome = world.enqueue(name).rerun(job_id, CALLER, name, end)
        except Crash:
            world.answers.append(Answer(job_id, 0))
            raise
        world.answered(name, outcome)

    return Actor(name, body)


def keyed_id(key: str) -> str:
    """The id of the job an Idempotency-Key names (id key 1)."""
    return FakeIds(key=1).job_id_for_key(CALLER, key)


def delivery(world: World, name: str, number: int, *, even_deleted: bool = False) -> Actor:
    """One worker invocation handed the ``number``-th message sent (1-based)."""

    def ready() -> bool:
        return len(world.queue) >= number and (even_deleted or not world.queue[number - 1].deleted)

    def body() -> None:
        world.scheduler.point(Step("receive", QUEUE, writes=False), enabled=ready)
        sent = world.queue[number - 1]
        world.ends[name] = end = world.clock.now() + WORKER_TIMEOUT
        try:
            result = world.worker(name)(incoming(sent.message), end)
        except StoreFailed:
            return  # as the batch handler does: the message comes again
        if result.acknowledge:
            world.scheduler.point(Step("delete", QUEUE))
            sent.deleted = True

    return Actor(name, body)


def reconciler_run(
    world: World, name: str = "reconciler", grace: timedelta = GRACE, event_grace: timedelta = GRACE
) -> Actor:
    def body() -> None:
        # A run whose store fails ends in error; EventBridge runs it again later.
        with contextlib.suppress(StoreFailed):
            world.reconciler(grace, event_grace)(world.arrive(name, timedelta(seconds=60)))

    return Actor(name, body)


def clock_jumps(world: World, *seconds: float, name: str = "clock") -> Actor:
    def body() -> None:
        for jump in seconds:
            world.scheduler.point(Step("clock", None))
            world.clock.current += timedelta(seconds=jump)

    return Actor(name, body)


def purge(world: World, number: int, name: str = "purge") -> Actor:
    """An adversary deletes the ``number``-th message (an operator's purge)."""

    def body() -> None:
        world.scheduler.point(Step("purge", QUEUE), enabled=lambda: len(world.queue) >= number)
        sent = world.queue[number - 1]
        sent.deleted = True
        world.lost.add(sent.message.job_id)

    return Actor(name, body)
