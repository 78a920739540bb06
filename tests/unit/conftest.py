from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

from domain.enqueue import EnqueueJob, EnqueueSettings
from domain.outcomes import Outcome
from domain.retry import RetryPolicy, seeded
from domain.store_retries import StoreRetries
from domain.submission import Submission
from tests.fakes import FakeClock, FakeIds, FakeJobPublisher, FakeJobRepository, FakeMetrics

SEND_POLICY = RetryPolicy(max_attempts=4, base_delay_s=0.05, max_delay_s=1.0, attempt_timeout_s=3.0)
STORE_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=1.0, attempt_timeout_s=1.5)


@attrs.define
class World:
    """The enqueue use case wired to fakes, with a 30 s invocation."""

    clock: FakeClock = attrs.Factory(FakeClock)
    jobs: FakeJobRepository = attrs.Factory(FakeJobRepository)
    queue: FakeJobPublisher = attrs.Factory(FakeJobPublisher)
    ids: FakeIds = attrs.Factory(FakeIds)
    metrics: FakeMetrics = attrs.Factory(FakeMetrics)
    send_policy: RetryPolicy = SEND_POLICY
    margin: timedelta = timedelta(seconds=3)
    seed: int = 7

    def service(self) -> EnqueueJob:
        rng = seeded(self.seed)
        return EnqueueJob(
            jobs=self.jobs,
            publisher=self.queue,
            store=StoreRetries(STORE_POLICY, self.clock, self.clock, rng),
            clock=self.clock,
            sleeper=self.clock,
            ids=self.ids,
            metrics=self.metrics,
            rng=rng,
            settings=EnqueueSettings(send_policy=self.send_policy, deadline_margin=self.margin, retry_after_s=1),
        )

    def deadline(self, seconds: float = 30) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)

    def submit(self, key: str | None = None, payload: dict[str, object] | None = None, seconds: float = 30) -> Outcome:
        submission = Submission(
            job_type="resize",
            payload={"n": 1} if payload is None else payload,
            correlation_id="corr-1",
            idempotency_key=key,
        )
        return self.service()(submission, self.deadline(seconds))


@pytest.fixture
def world() -> World:
    return World()
