"""The ports the simulation's actors call: the world's table and queue,
each call a scheduling point that may meet a fault of the shared
vocabulary (``tests.faults``), and the world's one clock."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from chaos.invariants import Final
from domain.failures import Service
from domain.job import Expected, Job, Watch
from domain.work import IncomingMessage
from ports.events import CompletionEvent
from ports.handlers import JobContext, JobHandler
from ports.publisher import OutgoingMessage, Receipt
from ports.repository import AlreadyExists, ConditionFailed
from tests.fakes import EPOCH, JOB_RETENTION, JobTable, strict_json
from tests.faults import Fault

if TYPE_CHECKING:
    from tests.simulation.world import World

QUEUE = "queue"
# Faults any call may meet when a scenario lets the explorer choose them.
STORE_FAULTS = (Fault.THROTTLED, Fault.UNAVAILABLE, Fault.LOST, Fault.CRASH, Fault.CRASH_AFTER)
READ_FAULTS = (Fault.THROTTLED, Fault.UNAVAILABLE, Fault.CRASH)
# What a handler may do besides returning: fail (a retry may help, or not),
# or die with its invocation after it ran.
STEP_FAULTS = ("retryable", "permanent", "crash")
SEND_FAULTS = (
    Fault.THROTTLED,
    Fault.UNAVAILABLE,
    Fault.NOT_SENT,
    Fault.LOST,
    Fault.PERMANENT,
    Fault.CRASH,
    Fault.CRASH_AFTER,
)


@attrs.define
class Sent:
    """A message in the queue; ``deleted`` once a worker acknowledged it."""

    number: int
    message: OutgoingMessage
    at: datetime
    deleted: bool = False


class SimClock:
    """One clock for the world, moved only by clock-jump actors.

    A backoff sleep does not move it: a jump can fall between any two calls,
    a backoff's included, and that covers what a sleep could do (let a lease
    or a deadline pass) without making every retry a step that commutes with
    nothing."""

    def __init__(self) -> None:
        self.current = EPOCH
        self.slept = 0.0

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept += seconds


def _stem(a: str, b: str) -> str:
    """The longest beginning ``a`` and ``b`` share."""
    same = next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a[:same]


class SimRepository:
    """``JobRepository`` over the world's dict, with DynamoDB's conditional
    semantics; each call a scheduling point that may meet a fault."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._table = JobTable(world.jobs, world.clock, JOB_RETENTION, wrote=world.wrote)

    def create(self, job: Job, unless_taken: str | None = None) -> None:
        # A guarded create reads a second item: its target is every id that
        # begins as both do (the fake's keyed ids share their stem).
        target = job.job_id if unless_taken is None else _stem(job.job_id, unless_taken) + "*"
        self._write("create", target, lambda: self._table.create(job, unless_taken))

    def save(self, job: Job, expected: Expected) -> None:
        self._write("save", job.job_id, lambda: self._table.save(job, expected))

    def get(self, job_id: str) -> Job | None:
        self._before(self._world.variant("get", job_id, False, READ_FAULTS))
        return self._table.get(job_id)

    def find_due(self, watch: Watch, before: datetime, limit: int) -> list[Job]:
        self._before(self._world.variant("find", "job-*", False, READ_FAULTS))
        return self._table.due(watch, before, limit)

    def _write(self, op: str, job_id: str | None, action: Callable[[], None]) -> None:
        fault = _fault(self._world.variant(op, job_id, True, STORE_FAULTS))
        if fault is None:
            action()
            return
        if fault.carried_out:
            with contextlib.suppress(AlreadyExists, ConditionFailed):
                action()  # the answer, whatever it was, never arrives
        raise fault.raised(Service.STORE)

    @staticmethod
    def _before(variant: str) -> None:
        fault = _fault(variant)
        if fault is not None:
            raise fault.raised(Service.STORE)


class SimPublisher:
    """``JobPublisher`` appending to the world's queue."""

    def __init__(self, world: World) -> None:
        self._world = world

    def publish(self, message: OutgoingMessage) -> Receipt:
        strict_json(message.body)
        world = self._world
        fault = _fault(world.variant("publish", QUEUE, True, SEND_FAULTS))
        if fault is None or fault.carried_out:
            world.queue.append(Sent(len(world.queue) + 1, message, world.clock.now()))
        if fault is not None:
            raise fault.raised(Service.QUEUE)
        return Receipt(message_id=f"m{len(world.queue)}", request_id=None)


class SimEventBus:
    """``EventBus`` onto the world's record of events put; each put a
    scheduling point that may meet a fault."""

    def __init__(self, world: World) -> None:
        self._world = world

    def put(self, event: CompletionEvent) -> None:
        world = self._world
        # Puts commute with everything but the clock: the bus is only ever
        # written, and what an event says was stored before it was put.
        fault = _fault(world.variant("put", f"bus:{event.job_id}", False, STORE_FAULTS))
        if fault is None or fault.carried_out:
            world.announced(Final(event.job_id, event.status, event.finished_at))
        if fault is not None:
            raise fault.raised(Service.EVENTS)


class SimHandlers:
    """Every job type's handler is the world's step, on the job as stored
    when it starts (the claimed job: no port call comes between)."""

    def __init__(self, world: World) -> None:
        self._world = world

    def handler_for(self, job_type: str) -> JobHandler:
        def run(payload: dict[str, Any], context: JobContext) -> None:
            self._world.step(context.job_id, context.attempt)

        return run

    def knows(self, job_type: str) -> bool:
        return True


def _fault(variant: str) -> Fault | None:
    """The fault the explorer chose for a call; None: the call goes through."""
    return None if variant == "ok" else Fault(variant)


def incoming(message: OutgoingMessage) -> IncomingMessage:
    return IncomingMessage(message.job_id, message.enqueue_id, {}, message.correlation_id)
