"""The real clock, sleeper and id source."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

# Fixed forever: job ids derived from Idempotency-Keys must not change.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6b0f3c4e-2f5e-4a43-9d1e-5d0a7f1c2b39")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SystemSleeper:
    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class UuidIds:
    def new_job_id(self) -> str:
        return str(uuid.uuid4())

    def job_id_for_key(self, idempotency_key: str) -> str:
        return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key))

    def new_enqueue_id(self) -> str:
        return str(uuid.uuid4())

    def new_claim_id(self) -> str:
        return str(uuid.uuid4())
