"""Configuration from the environment, read once per cold start.

A missing or malformed value stops the cold start with a message that names
the variable: a misconfigured function should fail loudly at deploy time,
not answer 500 to every request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs

T = TypeVar("T")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


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
    deadline_margin_ms: int = 3000
    reconcile_grace_seconds: int = 300
    max_body_bytes: int = 256 * 1024
    log_level: str = "INFO"

    @property
    def retry_after_s(self) -> int:
        """What a 503 tells the client to wait: one full backoff ceiling."""
        return max(1, math.ceil(self.send_max_delay_ms / 1000))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        defaults = cls("", "")
        settings = cls(
            table_name=_required(env, "TABLE_NAME"),
            queue_url=_required(env, "QUEUE_URL"),
            send_max_attempts=_number(env, "SEND_MAX_ATTEMPTS", int, defaults.send_max_attempts, minimum=1),
            send_base_delay_ms=_number(env, "SEND_BASE_DELAY_MS", int, defaults.send_base_delay_ms, minimum=0),
            send_max_delay_ms=_number(env, "SEND_MAX_DELAY_MS", int, defaults.send_max_delay_ms, minimum=0),
            sqs_connect_timeout_s=_number(
                env, "SQS_CONNECT_TIMEOUT_S", float, defaults.sqs_connect_timeout_s, minimum=0.001
            ),
            sqs_read_timeout_s=_number(env, "SQS_READ_TIMEOUT_S", float, defaults.sqs_read_timeout_s, minimum=0.001),
            dynamodb_connect_timeout_s=_number(
                env, "DYNAMODB_CONNECT_TIMEOUT_S", float, defaults.dynamodb_connect_timeout_s, minimum=0.001
            ),
            dynamodb_read_timeout_s=_number(
                env, "DYNAMODB_READ_TIMEOUT_S", float, defaults.dynamodb_read_timeout_s, minimum=0.001
            ),
            store_max_attempts=_number(env, "STORE_MAX_ATTEMPTS", int, defaults.store_max_attempts, minimum=1),
            deadline_margin_ms=_number(env, "DEADLINE_MARGIN_MS", int, defaults.deadline_margin_ms, minimum=0),
            reconcile_grace_seconds=_number(
                env, "RECONCILE_GRACE_SECONDS", int, defaults.reconcile_grace_seconds, minimum=0
            ),
            max_body_bytes=_number(env, "MAX_BODY_BYTES", int, defaults.max_body_bytes, minimum=1),
            log_level=_choice(env, "LOG_LEVEL", LOG_LEVELS, defaults.log_level),
        )
        if settings.send_max_delay_ms < settings.send_base_delay_ms:
            raise ConfigurationError(
                f"SEND_MAX_DELAY_MS ({settings.send_max_delay_ms}) must not be below "
                f"SEND_BASE_DELAY_MS ({settings.send_base_delay_ms})"
            )
        return settings


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is required and not set")
    return value


def _number(
    env: Mapping[str, str], name: str, kind: Callable[[str], T], default: T, *, minimum: float
) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise ConfigurationError(f"{name}={raw!r} must be a finite number of at least {minimum}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip().upper()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigurationError(f"{name}={raw!r} must be one of {', '.join(choices)}")
    return raw
