"""Configuration from the environment, read once per cold start.

A missing or malformed value stops the cold start with a message that names
the variable: a misconfigured function should fail loudly at deploy time,
not answer 500 to every request.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from domain.budget import ANSWER_RESERVE
from entrypoints.api_gateway import CallerScope
from ports.handlers import AnyType, Handlers

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SQS_MAX_RETENTION_S = 14 * 24 * 3600
# SQS's 12 hours of visibility count from a message's receipt, and a
# worker's invocation (15 minutes at most) spends some before it postpones.
MAX_RETRY_DELAY_S = 12 * 3600 - 15 * 60
# A result lives in the job's item (400 KB) and its completion event (256 KB).
MAX_RESULT_BYTES = 128 * 1024
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
    job_max_attempts: int = 3
    # Processing retries: the message's visibility timeout is the delay.
    job_retry_base_delay_s: int = 2
    job_retry_max_delay_s: int = 300
    # The largest result a job may store (compact JSON, bytes).
    max_result_bytes: int = 64 * 1024
    # package.module:attribute, the deployment's handler registry; unset,
    # every job succeeds at once with no result.
    job_handlers: str | None = None
    # Whether a POST whose type no handler knows is refused (400) at intake.
    reject_unknown_types: bool = False
    # The bus completion events go to; unset, the account's default bus.
    event_bus_name: str | None = None
    max_body_bytes: int = 256 * 1024
    # How finely the sessions of one assumed role are told apart as callers.
    caller_scope: CallerScope = CallerScope.AUTO
    log_level: str = "INFO"
    job_retention_days: int = 30
    # The secret keyed job ids are made with (adapters.runtime.UuidIds).
    # Unset, ids stay per caller, but anyone who knows a caller's identity
    # and key can compute one. The stack sets JOB_ID_KEY_SECRET instead.
    job_id_key: str = attrs.field(default=UNSET_JOB_ID_KEY, repr=False)
    # A Secrets Manager secret (ARN or name) holding the key, read once per
    # cold start, so that the key is in no function's configuration.
    job_id_key_secret: str | None = None

    def __attrs_post_init__(self) -> None:
        checked_job_id_key(self.job_id_key, "JOB_ID_KEY")
        if self.job_id_key_secret is not None and self.job_id_key != UNSET_JOB_ID_KEY:
            raise ConfigurationError("set JOB_ID_KEY or JOB_ID_KEY_SECRET, not both: which key would make the ids?")
        if self.job_retention_days > MAX_RETENTION_DAYS:
            raise ConfigurationError(f"JOB_RETENTION_DAYS must be at most {MAX_RETENTION_DAYS}")
        if self.message_retention_seconds > SQS_MAX_RETENTION_S:
            raise ConfigurationError(
                f"MESSAGE_RETENTION_SECONDS ({self.message_retention_seconds}) is beyond SQS's longest retention, "
                f"{SQS_MAX_RETENTION_S}: set it to the queue's own"
            )
        if self.max_result_bytes > MAX_RESULT_BYTES:
            raise ConfigurationError(
                f"MAX_RESULT_BYTES ({self.max_result_bytes}) must be at most {MAX_RESULT_BYTES}: a result is "
                "stored in the job's item and sent in its completion event; store bigger ones elsewhere"
            )
        if self.job_retry_max_delay_s > MAX_RETRY_DELAY_S:
            raise ConfigurationError(
                f"JOB_RETRY_MAX_DELAY_S ({self.job_retry_max_delay_s}) is beyond {MAX_RETRY_DELAY_S}: SQS allows "
                "12 hours of visibility from a message's receipt, and the worker's run may take 15 minutes of them"
            )
        if self.job_retry_max_delay_s < self.job_retry_base_delay_s:
            raise ConfigurationError(
                f"JOB_RETRY_MAX_DELAY_S ({self.job_retry_max_delay_s}) must not be below "
                f"JOB_RETRY_BASE_DELAY_S ({self.job_retry_base_delay_s})"
            )
        if self.reject_unknown_types and not self.job_handlers:
            raise ConfigurationError("REJECT_UNKNOWN_TYPES needs JOB_HANDLERS: without handlers every type is known")
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
        if "JOB_ID_KEY_SECRET" in env:  # set but blank would fall back to the public key
            if not env["JOB_ID_KEY_SECRET"].strip():
                raise ConfigurationError("JOB_ID_KEY_SECRET is set but blank: name the secret, or unset it")
            tuning["job_id_key_secret"] = env["JOB_ID_KEY_SECRET"].strip()
        for name in ("JOB_HANDLERS", "EVENT_BUS_NAME"):
            if env.get(name, "").strip():
                tuning[name.lower()] = env[name].strip()
        scope = env.get("CALLER_SCOPE", "").strip().lower()
        if scope:
            if scope not in set(CallerScope):
                choices = ", ".join(CallerScope)
                raise ConfigurationError(f"CALLER_SCOPE={env['CALLER_SCOPE']!r} must be one of {choices}")
            tuning["caller_scope"] = CallerScope(scope)
        if env.get("REJECT_UNKNOWN_TYPES", "").strip():
            tuning["reject_unknown_types"] = _flag(env, "REJECT_UNKNOWN_TYPES")
        settings = cls(table_name=_required(env, "TABLE_NAME"), queue_url=_required(env, "QUEUE_URL"), **tuning)
        if settings.max_body_bytes + settings.max_result_bytes > ITEM_ROOM:
            # The job item keeps the payload (for a re-run) and the result.
            raise ConfigurationError(
                f"MAX_BODY_BYTES ({settings.max_body_bytes}) and MAX_RESULT_BYTES ({settings.max_result_bytes}) "
                f"together must be at most {ITEM_ROOM}: the job's DynamoDB item keeps both, and holds 400 KB"
            )
        return settings


def checked_job_id_key(key: str, source: str) -> str:
    """The key, if it can be one; ``source`` names where it came from."""
    if len(key) < MIN_JOB_ID_KEY:
        raise ConfigurationError(f"{source} must be at least {MIN_JOB_ID_KEY} characters (a random secret)")
    if key.startswith("{{resolve:"):
        raise ConfigurationError(f"{source} is a dynamic reference CloudFormation did not resolve, not a secret")
    return key


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
    "job_max_attempts": (int, 1),
    "job_retry_base_delay_s": (int, 0),
    "job_retry_max_delay_s": (int, 0),
    "max_result_bytes": (int, 1),
    "max_body_bytes": (int, 1),
    "job_retention_days": (int, 1),
}


# What a job item may spend on its payload and its result together: DynamoDB's
# 400 KB item limit, less room for every other attribute (ids, times, the
# last error's message).
ITEM_ROOM = 400_000 - 16_000


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env[name].strip().lower()
    if raw not in ("true", "false", "1", "0"):
        raise ConfigurationError(f"{name}={env[name]!r} must be true or false")
    return raw in ("true", "1")


def load_handlers(spec: str | None) -> Handlers:
    """The handler registry ``JOB_HANDLERS`` names (``package.module:attribute``);
    without one, every job type is known and succeeds at once."""
    if not spec:
        return AnyType()
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"JOB_HANDLERS={spec!r} must name package.module:attribute")
    try:
        registry = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"JOB_HANDLERS={spec!r} cannot be loaded: {exc}") from exc
    if not (callable(getattr(registry, "handler_for", None)) and callable(getattr(registry, "knows", None))):
        raise ConfigurationError(f"JOB_HANDLERS={spec!r} is not a handler registry (ports.handlers.HandlerRegistry)")
    loaded: Handlers = registry
    return loaded


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
