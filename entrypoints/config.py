"""Configuration from the environment, read once per cold start.

A missing or malformed value stops the cold start with a message that names
the variable: a misconfigured function should fail loudly at deploy time,
not answer 500 to every request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from domain.budget import ANSWER_RESERVE

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SQS_MAX_RETENTION_S = 14 * 24 * 3600
ANSWER_RESERVE_MS = ANSWER_RESERVE // timedelta(milliseconds=1)
UNSET_JOB_ID_KEY = "job-intake: no JOB_ID_KEY was set, so this one is public"
MIN_JOB_ID_KEY = 32
MAX_RETENTION_DAYS = 3650


class ConfigurationError(RuntimeError):
    pass


@attrs.frozen
class Settings:
    table_name: str
    queue_url: str
    send_max_attempts: int = 4
    send_base_delay_ms: int = 50
    send_max_delay_ms: int = 1000
    sqs_connect_timeout_s: float = 1.0
    sqs_read_timeout_s: float = 2.0
    dynamodb_connect_timeout_s: float = 0.5
    dynamodb_read_timeout_s: float = 1.0
    store_max_attempts: int = 3
    # The store's own backoff: a throttled table is not a throttled queue.
    store_base_delay_ms: int = 50
    store_max_delay_ms: int = 1000
    deadline_margin_ms: int = 3000
    reconcile_grace_seconds: int = 300
    reconcile_batch_size: int = 100
    # SQS's default retention (4 days); the stack sets its queue's and this together.
    message_retention_seconds: int = 345_600
    worker_max_claims: int = 3
    max_body_bytes: int = 256 * 1024
    log_level: str = "INFO"
    job_retention_days: int = 30
    # The secret keyed job ids are made with (adapters.runtime.UuidIds).
    # Unset, ids stay per caller, but anyone who knows a caller's identity
    # and key can compute one; the stack always sets it.
    job_id_key: str = attrs.field(default=UNSET_JOB_ID_KEY, repr=False)

    def __attrs_post_init__(self) -> None:
        if len(self.job_id_key) < MIN_JOB_ID_KEY:
            raise ConfigurationError(f"JOB_ID_KEY must be at least {MIN_JOB_ID_KEY} characters (a random secret)")
        if self.job_id_key.startswith("{{resolve:"):
            raise ConfigurationError("JOB_ID_KEY is a dynamic reference CloudFormation did not resolve, not a secret")
        if self.job_retention_days > MAX_RETENTION_DAYS:
            raise ConfigurationError(f"JOB_RETENTION_DAYS must be at most {MAX_RETENTION_DAYS}")
        if self.message_retention_seconds > SQS_MAX_RETENTION_S:
            raise ConfigurationError(
                f"MESSAGE_RETENTION_SECONDS ({self.message_retention_seconds}) is beyond SQS's longest retention, "
                f"{SQS_MAX_RETENTION_S}: set it to the queue's own"
            )
        if self.store_max_delay_ms < self.store_base_delay_ms:
            raise ConfigurationError(
                f"STORE_MAX_DELAY_MS ({self.store_max_delay_ms}) must not be below "
                f"STORE_BASE_DELAY_MS ({self.store_base_delay_ms})"
            )
        if self.send_max_delay_ms < self.send_base_delay_ms:
            raise ConfigurationError(
                f"SEND_MAX_DELAY_MS ({self.send_max_delay_ms}) must not be below "
                f"SEND_BASE_DELAY_MS ({self.send_base_delay_ms})"
            )
        rollback_ms = math.ceil(
            (self.dynamodb_connect_timeout_s + self.dynamodb_read_timeout_s) * 1000 + ANSWER_RESERVE_MS
        )
        if self.deadline_margin_ms < rollback_ms:
            raise ConfigurationError(
                f"DEADLINE_MARGIN_MS ({self.deadline_margin_ms}) must leave room for one rollback write: "
                f"at least DYNAMODB_CONNECT_TIMEOUT_S + DYNAMODB_READ_TIMEOUT_S + {ANSWER_RESERVE_MS} ms "
                f"= {rollback_ms} ms"
            )

    @property
    def deadline_margin(self) -> timedelta:
        """Kept free before every function's deadline (DEADLINE_MARGIN_MS)."""
        return timedelta(milliseconds=self.deadline_margin_ms)

    @property
    def job_retention(self) -> timedelta:
        """How long a settled job is kept (JOB_RETENTION_DAYS)."""
        return timedelta(days=self.job_retention_days)

    @property
    def retry_after_s(self) -> int:
        """What a 503 for the queue tells the client to wait: one full backoff ceiling."""
        return max(1, math.ceil(self.send_max_delay_ms / 1000))

    @property
    def store_retry_after_s(self) -> int:
        """What a 503 for the job store tells the client to wait: the store's backoff ceiling."""
        return max(1, math.ceil(self.store_max_delay_ms / 1000))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Each field is read from the variable of its name in upper case."""
        tuning: dict[str, Any] = {
            field: _number(env, field.upper(), kind, minimum)
            for field, (kind, minimum) in TUNING.items()
            if env.get(field.upper(), "").strip()
        }
        level = env.get("LOG_LEVEL", "").strip().upper()
        if level:
            if level not in LOG_LEVELS:
                raise ConfigurationError(f"LOG_LEVEL={level!r} must be one of {', '.join(LOG_LEVELS)}")
            tuning["log_level"] = level
        if "JOB_ID_KEY" in env:  # set but empty is a mistake, not "unset"
            tuning["job_id_key"] = env["JOB_ID_KEY"]
        return cls(table_name=_required(env, "TABLE_NAME"), queue_url=_required(env, "QUEUE_URL"), **tuning)


# The numeric settings: parser and least value.
TUNING: dict[str, tuple[Callable[[str], int | float], float]] = {
    "send_max_attempts": (int, 1),
    "send_base_delay_ms": (int, 0),
    "send_max_delay_ms": (int, 0),
    "sqs_connect_timeout_s": (float, 0.001),
    "sqs_read_timeout_s": (float, 0.001),
    "dynamodb_connect_timeout_s": (float, 0.001),
    "dynamodb_read_timeout_s": (float, 0.001),
    "store_max_attempts": (int, 1),
    "store_base_delay_ms": (int, 0),
    "store_max_delay_ms": (int, 0),
    "deadline_margin_ms": (int, 0),
    "reconcile_grace_seconds": (int, 0),
    "reconcile_batch_size": (int, 1),
    "message_retention_seconds": (int, 60),
    "worker_max_claims": (int, 1),
    "max_body_bytes": (int, 1),
    "job_retention_days": (int, 1),
}


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is required and not set")
    return value


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], int | float], minimum: float) -> int | float:
    raw = env[name].strip()
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if not math.isfinite(value) or value < minimum:
        raise ConfigurationError(f"{name}={raw!r} must be a finite number of at least {minimum}")
    return value
