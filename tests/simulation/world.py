"""The real domain code of producers, workers and the reconciler, run as
concurrent actors over in-memory ports that pause at every call.

Every port call is a scheduling point (``tests.simulation.explorer``), and
each can meet a fault: throttled, unavailable, answer lost (the write landed
or the message was stored), a crash before or after it. Clock jumps are
scheduling points too, so time can pass a lease, the grace period or a
deadline between any two calls of any actor.

The safety invariants are checked after every step against the messages
that are still in the queue; at quiescence honest workers drain what is
left (a deleted message is never delivered again unless a scenario's
adversary does it), the reconciler runs once every lease is over, and
``chaos.invariants.check`` judges the end state, liveness included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs
from dependency_injector import containers, providers

from chaos.faults import Crash
from chaos.invariants import Answer, Message, Run, binding, check
from domain.answers import RetryAfter
from domain.budget import CLOCK_SKEW
from domain.enqueue import EnqueueJob, EnqueueSettings
from domain.failures import FailureKind
from domain.job import Expected, Job, JobStatus, Watch
from domain.outcomes import Outcome
from domain.reconcile import ReconcileSettings, ReconcileStuckJobs
from domain.retry import RetryPolicy, seeded
from domain.submission import Submission
from domain.work import IncomingMessage, ProcessJobMessage, WorkSettings
from entrypoints.containers import Container
from entrypoints.http_answers import http_answer
from ports.publisher import OutgoingMessage, Receipt, SendFailed
from ports.repository import AlreadyExists, ConditionFailed, StoreFailed
from tests.fakes import EPOCH, JOB_RETENTION, FakeIds, FakeMetrics, JobTable, strict_json
from tests.simulation.explorer import Actor, Scenario, Scheduler, Step

T = TypeVar("T")
QUEUE = "queue"
# Faults any call may meet when a scenario lets the explorer choose them.
STORE_FAULTS = ("throttled", "unavailable", "lost", "crash", "crash-after")
SEND_FAULTS = ("throttled", "unavailable", "not-sent", "lost", "permanent", "crash", "crash-after")
SEND_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.1, attempt_timeout_s=3)
STORE_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.1, attempt_timeout_s=1.5)
PRODUCER_TIMEOUT = timedelta(seconds=20)
WORKER_TIMEOUT = timedelta(seconds=30)
MARGIN = timedelta(seconds=3)
GRACE = timedelta(seconds=300)
RETENTION = timedelta(days=4)
MAX_CLAIMS = 3
CALLER = "client"


def _store_failure(variant: str) -> StoreFailed:
    kinds = {
        "throttled": (FailureKind.THROTTLED, "ProvisionedThroughputExceededException"),
        "unavailable": (FailureKind.AMBIGUOUS, "InternalServerError"),
        "lost": (FailureKind.AMBIGUOUS, "ReadTimeoutError"),
    }
    kind, code = kinds[variant]
    return StoreFailed(kind, code, "simulated")


def _send_failure(variant: str) -> SendFailed:
    kinds = {
        "throttled": (FailureKind.THROTTLED, "RequestThrottled"),
        "unavailable": (FailureKind.AMBIGUOUS, "ServiceUnavailable"),
        "not-sent": (FailureKind.NOT_SENT, "EndpointConnectionError"),
        "lost": (FailureKind.AMBIGUOUS, "ReadTimeoutError"),
        "permanent": (FailureKind.PERMANENT, "AWS.SimpleQueueService.NonExistentQueue"),
    }
    kind, code = kinds[variant]
    return SendFailed(kind, code, "simulated")


@attrs.define
class Sent:
    """A message in the queue; ``deleted`` once a worker acknowledged it."""

    number: int
    message: OutgoingMessage
    at: datetime
    deleted: bool = False


@attrs.frozen
class Faults:
    """Faults for one actor: ``script`` forces a variant on the n-th call of
    an operation (``{"publish": ["lost", "lost"]}``); ``free`` lets the
    explorer choose any fault on the calls the script leaves open."""

    script: dict[str, Sequence[str]] = attrs.Factory(dict)
    free: bool = False


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


class World:
    """The stores, the actors' ports and the record of what everyone was told."""

    def __init__(self, scheduler: Scheduler, *, retention: timedelta = RETENTION) -> None:
        self.scheduler = scheduler
        self.clock = SimClock()
        self.jobs: dict[str, Job] = {}
        self.queue: list[Sent] = []
        self.retention = retention
        self.metrics = FakeMetrics()
        self.faults: dict[str, Faults] = {}
        self.calls: dict[tuple[str, str], int] = {}
        # What producers were told: every answer, and each job's binding one.
        self.answers: list[Answer] = []
        self.binding: dict[str, Answer] = {}
        self.accepted: set[str] = set()
        self.last_writer: dict[str, tuple[str, int]] = {}
        self.started: dict[str, int] = {}
        # Each actor's invocation end: Lambda stops it there, whatever it does.
        self.ends: dict[str, datetime] = {}
        self.steps = 0
        self.runs: list[Run] = []
        # Jobs whose message an adversary purged, or that expired while the actors ran.
        self.lost: set[str] = set()
        self.settling = False
        # Tests swap in a defective worker to show that the exploration finds it.
        self.worker_class: type[ProcessJobMessage] = ProcessJobMessage

    # -- the ports ---------------------------------------------------------

    def variant(self, op: str, target: str | None, writes: bool, faults: Sequence[str]) -> str:
        """Pause the calling actor before ``op``; the fault it meets, or "ok"."""
        actor = self.scheduler.current_actor
        plan = self.faults.get(actor, Faults())
        n = self.calls.get((actor, op), 0)
        self.calls[(actor, op)] = n + 1
        scripted = plan.script.get(op, ())
        if n < len(scripted):
            variant = self.scheduler.point(Step(op, target, writes), (scripted[n],))
        else:
            variant = self.scheduler.point(Step(op, target, writes), ("ok", *faults) if plan.free else ("ok",))
        self.started.setdefault(actor, self.steps)
        self.stop_if_timed_out(actor)
        return variant

    def stop_if_timed_out(self, actor: str) -> None:
        """Lambda ends an invocation at its timeout: a clock jump past it
        kills the actor before its next call has any effect."""
        end = self.ends.get(actor)
        if end is not None and self.clock.now() >= end:
            raise Crash

    def arrive(self, actor: str, timeout: timedelta) -> datetime:
        """The invocation starts now (a scheduling point, so that a clock jump
        can come before it or after it); returns its end."""
        self.scheduler.point(Step("arrive", f"arrive:{actor}", writes=False))
        self.ends[actor] = self.clock.now() + timeout
        return self.ends[actor]

    def live(self, job: Job) -> bool:
        return job.status is JobStatus.QUEUED and any(
            not s.deleted and s.message.job_id == job.job_id and s.message.enqueue_id == job.enqueue_id
            for s in self.available()
        )

    def available(self) -> list[Sent]:
        """Messages a receive can return: not deleted, not expired."""
        now = self.clock.now()
        return [s for s in self.queue if not s.deleted and s.at + self.retention > now]

    def wrote(self, job_id: str) -> None:
        actor = self.scheduler.current_actor
        self.steps += 1
        if actor.startswith("producer"):
            self.last_writer[job_id] = (actor, self.steps)
            if job_id in self.binding and self.binding[job_id].status != 202:
                del self.binding[job_id]  # a later request may change what it said

    # -- invariants --------------------------------------------------------

    def check(self) -> None:
        """Safety after every step: each binding answer is still true."""
        if not self.settling:  # messages that expire while the actors run are the environment's loss
            self.lost.update(s.message.job_id for s in self.queue if not s.deleted and s not in self.available())
        for job_id in self.accepted:
            job = self.jobs.get(job_id)
            assert job is not None and job.accepted, f"I1: {job_id} answered 202, now {job}"
            if job.status is JobStatus.QUEUED and job_id not in self.lost:
                assert self.live(job), f"I1: {job_id} answered 202, QUEUED without a live message"
        for job_id, answer in self.binding.items():
            job = self.jobs.get(job_id)
            if answer.status == 503:
                assert job is None or job.status is JobStatus.PENDING, f"I2: {job_id} answered 503, now {job}"
            elif answer.status == 500 and answer.settled:
                assert job is not None and job.status is JobStatus.PENDING and job.last_error, f"I3: {job_id}: {job}"

    def finish(self) -> None:
        """Quiescence: honest workers drain the queue, every claim passes and
        the redeliveries take dead workers' claims over, the grace passes and
        the reconciler runs; no job may then wait QUEUED (I5, I7). Only then
        the retention passes, the reconciler fails the jobs whose message an
        adversary took, and I1-I7 are judged on what is left."""
        self.settling = True
        self.drain()
        self.clock.current += WORKER_TIMEOUT + CLOCK_SKEW + timedelta(seconds=5)
        self.drain()
        self.clock.current += GRACE * 2
        self.reconcile_all()
        self.drain()
        for job in self.jobs.values():
            if job.status is JobStatus.QUEUED:
                assert not self.live(job), f"I7: {job.job_id} QUEUED with a live message no worker finished"
                assert job.job_id in self.lost, f"I5: {job.job_id} QUEUED without a live message"
        self.clock.current += self.retention
        self.reconcile_all()
        self.check()
        problems = check(
            # Each job's binding answer last; a 202 binds for good.
            answers=[a for a in self.answers if a.status in (0, 409, 422)]
            + list(self.binding.values())
            + [Answer(job_id, 202) for job_id in sorted(self.accepted)],
            jobs=self.jobs,
            messages={Message(s.message.job_id, s.message.enqueue_id) for s in self.available()},
            runs=self.runs,
            now=self.clock.now(),
            lost=self.lost,
            unexplained_allowed=len(self.jobs),
            max_claims=MAX_CLAIMS,
        )
        assert not problems, problems

    def reconcile_all(self) -> None:
        while self.reconciler()(self.clock.now() + timedelta(seconds=60)).found:
            pass

    def drain(self) -> None:
        for _ in range(10):
            handled = False
            for sent in self.available():
                try:
                    result = self.worker()(_incoming(sent.message), self.clock.now() + WORKER_TIMEOUT)
                except StoreFailed:
                    continue
                if result.acknowledge:
                    sent.deleted = True
                    handled = True
            if not handled:
                return

    # -- the actors' use cases, wired to the simulated ports -----------------

    def enqueue(self, actor: str) -> EnqueueJob:
        return WIRING.build("enqueue_job", EnqueueJob, self, actor)

    def worker(self, actor: str = "drain") -> ProcessJobMessage:
        return WIRING.build("process_job_message", ProcessJobMessage, self, actor)

    def reconciler(self, grace: timedelta = GRACE) -> ReconcileStuckJobs:
        return WIRING.build("reconcile_stuck_jobs", ReconcileStuckJobs, self, "reconciler", grace)

    def step(self, job: Job, payload: dict[str, Any]) -> None:
        """The processing step: records its run; a crash may follow it."""
        variant = self.variant("step", job.job_id, True, ("crash",))
        answer = self.binding.get(job.job_id)
        assert answer is None or answer.status not in (503, 409, 422), f"I6: {job.job_id} run after {answer}"
        self.runs.append(Run.of(job))
        if variant == "crash":
            raise Crash

    # -- actors --------------------------------------------------------------

    def producer(self, name: str, key: str | None, payload: dict[str, Any] | None = None) -> Actor:
        def body() -> None:
            submission = Submission(
                job_type="t", payload=payload or {"n": 1}, correlation_id=name, caller=CALLER, idempotency_key=key
            )
            job_id = FakeIds().job_id_for_key(CALLER, key) if key else None
            end = self.arrive(name, PRODUCER_TIMEOUT)
            try:
                outcome = self.enqueue(name)(submission, end)
            except Crash:
                if job_id:
                    self.answers.append(Answer(job_id, 0))
                raise
            self.answered(name, outcome)

        return Actor(name, body)

    def answered(self, actor: str, outcome: Outcome) -> None:
        if outcome.job_id is None:
            return
        said = http_answer(outcome)
        status = said.status
        answer = Answer(outcome.job_id, status, said.settled)
        self.answers.append(answer)
        if status == 202:
            self.accepted.add(outcome.job_id)
        writer = self.last_writer.get(outcome.job_id)
        if status in (409, 422):
            assert writer is None or writer[0] != actor, f"I4: {actor} answered {status} after writing"
        elif writer is None or writer[0] == actor or writer[1] <= self.started.get(actor, self.steps):
            # Nobody else wrote the job since this request began: its answer binds.
            self.binding[outcome.job_id] = answer

    def delivery(self, name: str, number: int, *, even_deleted: bool = False) -> Actor:
        """One worker invocation handed the ``number``-th message sent (1-based)."""

        def ready() -> bool:
            return len(self.queue) >= number and (even_deleted or not self.queue[number - 1].deleted)

        def body() -> None:
            self.scheduler.point(Step("receive", QUEUE, writes=False), enabled=ready)
            sent = self.queue[number - 1]
            self.ends[name] = end = self.clock.now() + WORKER_TIMEOUT
            try:
                result = self.worker(name)(_incoming(sent.message), end)
            except StoreFailed:
                return  # as the batch handler does: the message comes again
            if result.acknowledge:
                self.scheduler.point(Step("delete", QUEUE))
                sent.deleted = True

        return Actor(name, body)

    def reconciler_run(self, name: str = "reconciler", grace: timedelta = GRACE) -> Actor:
        def body() -> None:
            # A run whose store fails ends in error; EventBridge runs it again later.
            with contextlib.suppress(StoreFailed):
                self.reconciler(grace)(self.arrive(name, timedelta(seconds=60)))

        return Actor(name, body)

    def clock_jumps(self, *seconds: float, name: str = "clock") -> Actor:
        def body() -> None:
            for jump in seconds:
                self.scheduler.point(Step("clock", None))
                self.clock.current += timedelta(seconds=jump)

        return Actor(name, body)

    def purge(self, number: int, name: str = "purge") -> Actor:
        """An adversary deletes the ``number``-th message (an operator's purge)."""

        def body() -> None:
            self.scheduler.point(Step("purge", QUEUE), enabled=lambda: len(self.queue) >= number)
            sent = self.queue[number - 1]
            sent.deleted = True
            self.lost.add(sent.message.job_id)

        return Actor(name, body)

    def scenario(self, actors: list[Actor], faults: dict[str, Faults] | None = None) -> Scenario:
        self.faults = faults or {}
        return Scenario(actors=actors, check=self.check, finish=self.finish)


class SimRepository:
    """``JobRepository`` over the world's dict, with DynamoDB's conditional
    semantics; each call a scheduling point that may meet a fault."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._table = JobTable(world.jobs, world.clock, JOB_RETENTION, wrote=world.wrote)

    def create(self, job: Job) -> None:
        self._write("create", job.job_id, lambda: self._table.create(job))

    def save(self, job: Job, expected: Expected) -> None:
        self._write("save", job.job_id, lambda: self._table.save(job, expected))

    def get(self, job_id: str) -> Job | None:
        variant = self._world.variant("get", job_id, False, ("throttled", "unavailable", "crash"))
        self._fail_before(variant)
        return self._table.get(job_id)

    def find_due(self, watch: Watch, before: datetime, limit: int) -> list[Job]:
        variant = self._world.variant("find", "job-*", False, ("throttled", "unavailable", "crash"))
        self._fail_before(variant)
        return self._table.due(watch, before, limit)

    def _write(self, op: str, job_id: str, action: Callable[[], None]) -> None:
        variant = self._world.variant(op, job_id, True, STORE_FAULTS)
        self._fail_before(variant)
        if variant in ("lost", "crash-after"):
            with contextlib.suppress(AlreadyExists, ConditionFailed):
                action()  # the answer, whatever it was, never arrives
            raise Crash if variant == "crash-after" else _store_failure(variant)
        action()

    @staticmethod
    def _fail_before(variant: str) -> None:
        if variant == "crash":
            raise Crash
        if variant in ("throttled", "unavailable"):
            raise _store_failure(variant)


class SimPublisher:
    """``JobPublisher`` appending to the world's queue."""

    def __init__(self, world: World) -> None:
        self._world = world

    def publish(self, message: OutgoingMessage) -> Receipt:
        strict_json(message.body)
        world = self._world
        variant = world.variant("publish", QUEUE, True, SEND_FAULTS)
        if variant == "crash":
            raise Crash
        if variant in ("ok", "lost", "crash-after"):
            world.queue.append(Sent(len(world.queue) + 1, message, world.clock.now()))
        if variant == "crash-after":
            raise Crash
        if variant != "ok":
            raise _send_failure(variant)
        return Receipt(message_id=f"m{len(world.queue)}", request_id=None)


def _incoming(message: OutgoingMessage) -> IncomingMessage:
    return IncomingMessage(message.job_id, message.enqueue_id, {}, message.correlation_id)


class Wiring:
    """The production composition root, wiring the simulation's actors.

    Built once per process: a container costs about a millisecond to build,
    more than most schedules take. Its ports are overridden, as one group,
    by providers that read the world and actor being wired; the use cases
    are factories, so every build makes an actor its own use case, retriers
    and seeded random sources, wired by the code that wires the Lambda
    functions.
    """

    def __init__(self) -> None:
        self.world: World | None = None
        self.actor = ""
        self.grace = GRACE
        self.container = container = Container()
        ports = containers.DynamicContainer()
        ports.set_providers(
            jobs=providers.Callable(lambda: SimRepository(self._world())),
            publisher=providers.Callable(lambda: SimPublisher(self._world())),
            clock=providers.Callable(lambda: self._world().clock),
            sleeper=providers.Callable(lambda: self._world().clock),
            metrics=providers.Callable(lambda: self._world().metrics),
            ids=providers.Callable(lambda: FakeIds(self.actor)),
            rng=providers.Callable(seeded, 0),
            job_step=providers.Callable(lambda: self._world().step),
        )
        container.ports.override(ports)
        use_cases = container.use_cases
        overrides: dict[providers.Provider[Any], providers.Provider[Any]] = {
            use_cases.store_policy: providers.Object(STORE_POLICY),
            use_cases.send_policy: providers.Object(SEND_POLICY),
            use_cases.enqueue_settings: providers.Object(
                EnqueueSettings(deadline_margin=MARGIN, retry_after=RetryAfter(1, 1))
            ),
            use_cases.work_settings: providers.Object(WorkSettings(max_claims=MAX_CLAIMS, margin=MARGIN)),
            use_cases.reconcile_settings: providers.Callable(
                lambda: ReconcileSettings(
                    grace=self.grace, message_retention=self._world().retention, batch_limit=10, margin=MARGIN
                )
            ),
        }
        for provider, override in overrides.items():
            provider.override(override)

    def _world(self) -> World:
        assert self.world is not None, "a port was built outside Wiring.build"
        return self.world

    def build(self, use_case: str, kind: type[T], world: World, actor: str, grace: timedelta = GRACE) -> T:
        self.world, self.actor, self.grace = world, actor, grace
        try:
            # Tests swap in a defective worker to show the exploration finds it.
            self.container.use_cases.process_job_message.set_provides(world.worker_class)  # type: ignore[attr-defined]
            built = getattr(self.container.use_cases, use_case)()
        finally:
            self.world = None
        assert isinstance(built, kind)
        return built


WIRING = Wiring()

__all__ = ["WIRING", "Faults", "World", "binding"]
