"""In-memory stand-ins for the ports, scriptable to fail on cue.

The contract tests run the same cases against these and against the real
adapters on moto server, so the fakes cannot drift from the real thing.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs
from dependency_injector import containers, providers

from chaos.invariants import Final
from domain.announce import Announcer
from domain.answers import RetryAfter
from domain.cancel import CancelJob
from domain.enqueue import EnqueueJob, EnqueueSettings
from domain.failures import FailureKind, Service
from domain.job import FINAL, Expected, Job, JobStatus, Retention, Watch
from domain.reconcile import ReconcileSettings, ReconcileStuckJobs
from domain.retry import RetryPolicy, seeded
from domain.store_retrier import StoreRetrier
from domain.work import ProcessJobMessage, WorkSettings
from entrypoints.containers import Container
from entrypoints.cursors import Cursors
from entrypoints.jobs_api import JobsApi
from ports.events import CompletionEvent
from ports.handlers import AnyType, Handlers, JobContext, JobHandler
from ports.publisher import OutgoingMessage, Receipt, SendFailed
from ports.repository import AlreadyExists, ConditionFailed, JobSummary, Page, Position, StoreFailed
from ports.runtime import Clock
from tests.faults import Fault

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
T = TypeVar("T")
# A test's stand-in for a handler that looks at the job as claimed.
JobStep = Callable[[Job, dict[str, Any]], Any]


class StepHandlers:
    """Handlers for every type that run ``step`` on the job as stored when
    the handler starts (the claimed job) and the payload; what it returns
    is the result."""

    def __init__(self, step: JobStep, stored: Callable[[str], Job | None]) -> None:
        self._step = step
        self._stored = stored

    def handler_for(self, job_type: str) -> JobHandler:
        def run(payload: dict[str, Any], context: JobContext) -> Any:
            job = self._stored(context.job_id)
            assert job is not None, f"{context.job_id} vanished before its handler ran"
            return self._step(job, payload)

        return run

    def knows(self, job_type: str) -> bool:
        return True


class FakeClock:
    """A clock that only moves when something sleeps or a test advances it."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.current = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class FakeIds:
    """Numbered ids; with an ``actor``, ids name the actor that made them, so
    that actors running in any order make the same ids. ``key`` and
    ``other_key`` name the id keys it knows, as a rotation goes: keyed ids
    are made with ``key``, and ``other_key`` (if any) is the rotation's
    other; the first key's ids are the unadorned ones."""

    def __init__(self, actor: str = "", key: int = 1, other_key: int | None = None) -> None:
        self._n = Counter[str]()
        self._actor = f"{actor}-" if actor else ""
        self._key = key
        self._other_key = other_key

    def _next(self, prefix: str) -> str:
        self._n[prefix] += 1
        return f"{prefix}-{self._actor}{self._n[prefix]:04d}"

    def new_job_id(self) -> str:
        return self._next("job")

    def job_id_for_key(self, caller: str, idempotency_key: str) -> str:
        return keyed_id(caller, idempotency_key, self._key)

    def other_job_id_for_key(self, caller: str, idempotency_key: str) -> str | None:
        return None if self._other_key is None else keyed_id(caller, idempotency_key, self._other_key)

    def new_enqueue_id(self) -> str:
        return self._next("enq")

    def new_claim_id(self) -> str:
        return self._next("claim")


def keyed_id(caller: str, idempotency_key: str, key: int = 1) -> str:
    """The fake's keyed id under the ``key``-th id key."""
    # A caller may be an ARN: its checksum keeps the id one path segment.
    made = f"job-for-{idempotency_key}@{zlib.crc32(caller.encode()):08x}"
    return made if key == 1 else f"{made}~k{key}"


class FakeMetrics:
    """The metrics port counted in memory: every test's, and the chaos run's."""

    def __init__(self) -> None:
        self.counts = Counter[str]()
        self.by_type = Counter[tuple[str, str]]()

    def count(self, name: str, value: int = 1, *, job_type: str | None = None) -> None:
        self.counts[name] += value
        if job_type is not None:
            self.by_type[(name, job_type)] += value

    def flush(self) -> None:
        """Nothing to write: the counts stay readable."""


@attrs.frozen
class Lost:
    """A call the service carries out but whose answer never arrives."""

    failure: BaseException


@attrs.frozen
class Meanwhile:
    """Another actor acts just before the call, which then runs normally."""

    action: Callable[[], None]


# A fault of the shared vocabulary, or an exact failure a test needs (a
# particular code); None: this call goes through untouched (to aim a fault
# at a later one).
Step = Fault | BaseException | Lost | Meanwhile | None


def played(step: Step, service: Service) -> BaseException | Lost | Meanwhile | None:
    """A step as the fake of ``service`` plays it."""
    if not isinstance(step, Fault):
        return step
    return Lost(step.raised(service)) if step.carried_out else step.raised(service)


# The stack's default (JOB_RETENTION_DAYS).
JOB_RETENTION = Retention(timedelta(days=30))


class JobTable:
    """A dict of jobs with the table's rules: DynamoDB's conditional writes,
    and retention (a settled job past it reads as absent, and its id may be
    taken again). The one home of those rules for every fake."""

    def __init__(
        self, jobs: dict[str, Job], clock: Clock, retention: Retention, wrote: Callable[[str], None] = lambda _: None
    ) -> None:
        self.jobs = jobs
        self._clock = clock
        self._retention = retention
        self._wrote = wrote

    def create(self, job: Job, unless_taken: str | None = None) -> None:
        for job_id in (job.job_id, unless_taken):
            existing = None if job_id is None else self.get(job_id)
            if existing is not None:
                raise AlreadyExists(existing)
        self.jobs[job.job_id] = job
        self._wrote(job.job_id)

    def save(self, job: Job, expected: Expected) -> None:
        # As DynamoDB's condition, this one does not look at the expiry.
        current = self.jobs.get(job.job_id)
        if current is None or Expected.of(current) != expected:
            raise ConditionFailed(job.job_id, current)
        self.jobs[job.job_id] = job
        self._wrote(job.job_id)

    def get(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        return None if job is None or self._retention.expired(job, self._clock.now()) else job

    def due(self, watch: Watch, before: datetime, limit: int) -> list[Job]:
        return due(self.jobs.values(), watch, before, limit)

    def list_owned(self, owner: str, status: JobStatus | None, limit: int, after: Position | None) -> Page:
        """The owner index's order: newest first, ties by id, descending."""
        owned = sorted(
            (
                job
                for job in self.jobs.values()
                if job.owner == owner and not self._retention.expired(job, self._clock.now())
            ),
            key=lambda job: (job.created_at, job.job_id),
            reverse=True,
        )
        if after is not None:
            owned = [job for job in owned if (job.created_at, job.job_id) < after]
        page = [job for job in owned if status is None or job.status is status][:limit]
        more = len(page) == limit and any(
            (job.created_at, job.job_id) < (page[-1].created_at, page[-1].job_id) for job in owned
        )
        return Page([JobSummary.of(job) for job in page], (page[-1].created_at, page[-1].job_id) if more else None)


class FakeJobRepository:
    """``JobRepository`` over a ``JobTable``, each call scriptable to fail."""

    def __init__(
        self, clock: Clock | None = None, retention: Retention = JOB_RETENTION, tick: Callable[[], None] = lambda: None
    ) -> None:
        self.table = JobTable({}, clock or FakeClock(), retention, wrote=self._wrote)
        # Every final state ever stored (a completion event must be for one).
        self.finals: set[Final] = set()
        self.calls = Counter[str]()
        self._script: dict[str, deque[BaseException | Lost | Meanwhile | None]] = {
            "create": deque(),
            "save": deque(),
            "get": deque(),
            "find_due": deque(),
            "list_owned": deque(),
        }
        self._tick = tick
        self.consumed: list[Step] = []

    def _wrote(self, job_id: str) -> None:
        job = self.table.jobs[job_id]
        if job.status in FINAL:
            self.finals.add(Final.of(job))

    @property
    def jobs(self) -> dict[str, Job]:
        """What is stored, expired jobs included (a test may share it)."""
        return self.table.jobs

    @jobs.setter
    def jobs(self, jobs: dict[str, Job]) -> None:
        self.table.jobs = jobs

    def fail(self, operation: str, *steps: Step) -> None:
        """The next calls of ``operation`` meet these faults, in order."""
        self._script[operation].extend(played(step, Service.STORE) for step in steps)

    def forget_faults(self) -> None:
        for script in self._script.values():
            script.clear()

    def create(self, job: Job, unless_taken: str | None = None) -> None:
        self._call("create", lambda: self.table.create(job, unless_taken))

    def save(self, job: Job, expected: Expected) -> None:
        self._call("save", lambda: self.table.save(job, expected))

    def get(self, job_id: str) -> Job | None:
        return self._call("get", lambda: self.table.get(job_id))

    def find_due(self, watch: Watch, before: datetime, limit: int) -> list[Job]:
        return self._call("find_due", lambda: self.table.due(watch, before, limit))

    def list_owned(self, owner: str, status: JobStatus | None, limit: int, after: Position | None) -> Page:
        return self._call("list_owned", lambda: self.table.list_owned(owner, status, limit, after))

    def _call(self, operation: str, action: Callable[[], T]) -> T:
        self.calls[operation] += 1
        self._tick()
        script = self._script[operation]
        step = script.popleft() if script else None
        if step is not None:
            self.consumed.append(step)
        if isinstance(step, Meanwhile):
            step.action()
        elif isinstance(step, Lost):
            # The call is carried out; whatever it answered, success or a
            # failed condition, never arrives.
            with contextlib.suppress(AlreadyExists, ConditionFailed):
                action()
            raise step.failure
        elif step is not None:
            raise step
        return action()


class FakeJobPublisher:
    """Records what reached the queue; ``sent`` is the queue's content."""

    def __init__(self, tick: Callable[[], None] = lambda: None) -> None:
        self.sent: list[OutgoingMessage] = []
        self.calls = 0
        self._script: deque[BaseException | Lost | Meanwhile | None] = deque()
        self._tick = tick
        self.consumed: list[Step] = []

    def fail(self, *steps: Step) -> None:
        self._script.extend(played(step, Service.QUEUE) for step in steps)

    def forget_faults(self) -> None:
        self._script.clear()

    def publish(self, message: OutgoingMessage) -> Receipt:
        strict_json(message.body)
        self.calls += 1
        self._tick()
        step = self._script.popleft() if self._script else None
        if step is not None:
            self.consumed.append(step)
        if isinstance(step, Meanwhile):
            step.action()
        elif isinstance(step, Lost):
            self.sent.append(message)
            raise step.failure
        elif step is not None:
            raise step
        self.sent.append(message)
        return Receipt(message_id=f"msg-{len(self.sent):04d}", request_id=f"req-{self.calls:04d}")


class FakeEventBus:
    """Records the completion events put; ``put`` is scriptable to fail."""

    def __init__(self) -> None:
        self.events: list[CompletionEvent] = []
        self.calls = 0
        self._script: deque[BaseException | Lost | Meanwhile | None] = deque()
        self.consumed: list[Step] = []

    def fail(self, *steps: Step) -> None:
        self._script.extend(played(step, Service.EVENTS) for step in steps)

    def forget_faults(self) -> None:
        self._script.clear()

    def put(self, event: CompletionEvent) -> None:
        self.calls += 1
        step = self._script.popleft() if self._script else None
        if step is not None:
            self.consumed.append(step)
        if isinstance(step, Meanwhile):
            step.action()
        elif isinstance(step, Lost):
            self.events.append(event)
            raise step.failure
        elif step is not None:
            raise step
        self.events.append(event)


class FakeVisibility:
    """Records which messages were postponed, and for how long."""

    def __init__(self) -> None:
        self.postponed: list[tuple[str, int]] = []

    def postpone(self, receipt_handle: str, delay_s: int) -> None:
        self.postponed.append((receipt_handle, delay_s))


def submitted(job_id: str, at: datetime = EPOCH, *, key: str | None = None, owner: str = "owner-1") -> Job:
    """A job as a request first records it (PENDING, version 0)."""
    return Job.submitted(
        job_id=job_id, job_type="t", request_hash="h", correlation_id="c", owner=owner, idempotency_key=key, at=at
    )


def strict_json(text: str) -> Any:
    """``text`` parsed as JSON by the RFC's grammar: no NaN or Infinity,
    which Python's own parser would let through and a worker in another
    language would choke on."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in a message body is not JSON: {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def due(jobs: Iterable[Job], watch: Watch, before: datetime, limit: int) -> list[Job]:
    """The jobs ``find_due`` returns, by its contract."""
    found = [j for j in jobs if j.watch is watch and j.watched_since is not None and j.watched_since < before]
    return sorted(found, key=lambda j: j.watched_since or before)[:limit]


def send_failure(kind: FailureKind, code: str = "", status: int | None = None) -> SendFailed:
    return SendFailed(kind, code or kind.value, "injected", http_status=status, request_id="req-injected")


def store_failure(kind: FailureKind, code: str = "") -> StoreFailed:
    return StoreFailed(kind, code or kind.value, "injected")


SEND_POLICY = RetryPolicy(max_attempts=4, base_delay_s=0.05, max_delay_s=1.0, attempt_timeout_s=3.0)
STORE_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=1.0, attempt_timeout_s=1.5)


TEST_CURSOR_KEY = "a cursor key for tests, not a secret"


@attrs.define
class OnFakes:
    """Every port's fake, and the domain's use cases wired to them as the
    container wires the real adapters. Each use case gets its own random
    source seeded with ``seed``, so a test's backoff delays repeat."""

    clock: FakeClock = attrs.Factory(FakeClock)
    jobs: FakeJobRepository = attrs.Factory(lambda self: FakeJobRepository(self.clock), takes_self=True)
    queue: FakeJobPublisher = attrs.Factory(FakeJobPublisher)
    ids: FakeIds = attrs.Factory(FakeIds)
    metrics: FakeMetrics = attrs.Factory(FakeMetrics)
    bus: FakeEventBus = attrs.Factory(FakeEventBus)
    visibility: FakeVisibility = attrs.Factory(FakeVisibility)
    send_policy: RetryPolicy = SEND_POLICY
    store_policy: RetryPolicy = STORE_POLICY
    margin: timedelta = timedelta(seconds=3)
    seed: int = 7

    def ports(self, handlers: Handlers | None = None) -> containers.DynamicContainer:
        """Every port a fake: the group the container's ports are overridden with."""
        ports = containers.DynamicContainer()
        ports.set_providers(
            jobs=providers.Object(self.jobs),
            publisher=providers.Object(self.queue),
            clock=providers.Object(self.clock),
            sleeper=providers.Object(self.clock),
            ids=providers.Object(self.ids),
            metrics=providers.Object(self.metrics),
            # A random source of its own for each retrier, seeded alike, so
            # that a test's backoff delays repeat.
            rng=providers.Factory(seeded, self.seed),
            handlers=providers.Object(handlers or AnyType()),
            bus=providers.Object(self.bus),
            visibility=providers.Object(self.visibility),
        )
        return ports

    def container(self, handlers: Handlers | None = None) -> Container:
        """The production composition root, with every port a fake and the
        retry policies and margin this object's: the use cases are wired by
        the same code as in the Lambda functions."""
        container = Container()
        container.ports.override(self.ports(handlers))
        use_cases = container.use_cases
        use_cases.store_policy.override(providers.Object(self.store_policy))
        use_cases.send_policy.override(providers.Object(self.send_policy))
        use_cases.enqueue_settings.override(
            providers.Object(EnqueueSettings(deadline_margin=self.margin, retry_after=RetryAfter(1, 1)))
        )
        return container

    def store(self) -> StoreRetrier:
        return built(StoreRetrier, self.container().use_cases.store_retrier)

    def enqueue(self) -> EnqueueJob:
        return built(EnqueueJob, self.container().use_cases.enqueue_job)

    def reconciler(
        self, grace: timedelta, batch_limit: int = 100, retention: timedelta = timedelta(days=4)
    ) -> ReconcileStuckJobs:
        use_cases = self.container().use_cases
        use_cases.reconcile_settings.override(
            providers.Object(
                ReconcileSettings(
                    grace=grace, message_retention=retention, batch_limit=batch_limit, margin=timedelta(seconds=2)
                )
            )
        )
        return built(ReconcileStuckJobs, use_cases.reconcile_stuck_jobs)

    def announcer(self) -> Announcer:
        return built(Announcer, self.container().use_cases.announcer)

    def canceller(self) -> CancelJob:
        return built(CancelJob, self.container().use_cases.cancel_job)

    def api(self, **options: Any) -> JobsApi:
        """The jobs API over these fakes (``options``: its constructor's)."""
        wired: dict[str, Any] = {
            "enqueue_job": self.enqueue(),
            "cancel_job": self.canceller(),
            "cursors": Cursors([TEST_CURSOR_KEY]),
            "jobs": self.jobs,
            "clock": self.clock,
            "max_body_bytes": 65536,
            "metrics": self.metrics,
        }
        return JobsApi(**{**wired, **options})

    def worker(self, step: JobStep | Handlers, max_attempts: int = 3, **settings: Any) -> ProcessJobMessage:
        """The worker, running ``step`` (a test's step on the claimed job,
        or handlers by type)."""
        handlers = step if isinstance(step, Handlers) else StepHandlers(step, lambda job_id: self.jobs.jobs.get(job_id))
        use_cases = self.container(handlers).use_cases
        use_cases.work_settings.override(
            providers.Object(WorkSettings(max_attempts=max_attempts, margin=self.margin, **settings))
        )
        return built(ProcessJobMessage, use_cases.process_job_message)


def built(kind: type[T], provider: Callable[[], object]) -> T:
    """What ``provider`` builds, checked to be a ``kind`` (a nested
    container's providers are untyped)."""
    value = provider()
    assert isinstance(value, kind), f"{provider} built {value!r}, not a {kind.__name__}"
    return value
