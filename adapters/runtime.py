"""The real clock, sleeper and id source."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SystemSleeper:
    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class UuidIds:
    """Random UUIDs; a keyed job's id is an HMAC of its caller and key.

    The HMAC's secret (one per deployment) is what keeps a caller who knows
    another's identity and key from computing that job's id. Changing it
    gives every key a new job id, and a retry across the change would make
    a second job; so it changes only by a rotation, during which ``other``
    is the rotation's other key and a keyed create is refused while the
    key's id under it is taken (``adapters.secret_key.JobIdKeys``).
    """

    def __init__(self, secret: str, other: str | None = None) -> None:
        self._secret = secret.encode()
        # The rotation's other key, while one is under way (JobIdKeys).
        self._other = None if other is None else other.encode()

    def new_job_id(self) -> str:
        return str(uuid.uuid4())

    def job_id_for_key(self, caller: str, idempotency_key: str) -> str:
        return _keyed(self._secret, caller, idempotency_key)

    def other_job_id_for_key(self, caller: str, idempotency_key: str) -> str | None:
        return None if self._other is None else _keyed(self._other, caller, idempotency_key)

    def new_enqueue_id(self) -> str:
        return str(uuid.uuid4())

    def new_claim_id(self) -> str:
        return str(uuid.uuid4())


def _keyed(secret: bytes, caller: str, idempotency_key: str) -> str:
    # Length-prefixed, so that no (caller, key) pair can be shifted into
    # another: ("ab", "c") and ("a", "bc") hash apart.
    message = f"{len(caller)}:{caller}{idempotency_key}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    # Version 8 (RFC 9562's custom layout): the same shape as every
    # other job id, with no claim to be random or time-ordered.
    value = int.from_bytes(digest[:16]) & ~(0xF << 76) | (0x8 << 76)
    value = value & ~(0x3 << 62) | (0x2 << 62)
    return str(uuid.UUID(int=value))
