from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

from domain.outcomes import Outcome
from domain.submission import Submission
from tests.fakes import OnFakes

CALLER = "alice"


@attrs.define
class World(OnFakes):
    """The enqueue use case on fakes, with a 30 s invocation."""

    def deadline(self, seconds: float = 30) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)

    def submit(
        self,
        key: str | None = None,
        payload: dict[str, object] | None = None,
        seconds: float = 30,
        caller: str = CALLER,
        correlation_id: str = "corr-1",
    ) -> Outcome:
        submission = Submission(
            job_type="resize",
            payload={"n": 1} if payload is None else payload,
            correlation_id=correlation_id,
            caller=caller,
            idempotency_key=key,
        )
        return self.enqueue()(submission, self.deadline(seconds))


@pytest.fixture
def world() -> World:
    return World()
