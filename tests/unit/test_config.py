from __future__ import annotations

from datetime import timedelta

import pytest
from dependency_injector import providers

from domain.answers import RetryAfter
from domain.enqueue import EnqueueSettings
from domain.reconcile import ReconcileSettings
from domain.retry import RetryPolicy
from domain.work import WorkSettings
from entrypoints.api_gateway import CallerScope
from entrypoints.config import ConfigurationError, Settings, load_handlers
from entrypoints.containers import Container

REQUIRED = {"TABLE_NAME": "jobs", "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"}


def test_the_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env(REQUIRED)
    assert (settings.send_max_attempts, settings.send_base_delay_ms, settings.send_max_delay_ms) == (4, 50, 1000)
    assert (settings.sqs_connect_timeout_s, settings.sqs_read_timeout_s) == (1.0, 2.0)
    assert (settings.deadline_margin_ms, settings.reconcile_grace_seconds) == (3000, 300)
    assert (settings.max_body_bytes, settings.log_level, settings.retry_after_s) == (262144, "INFO", 1)
    assert (settings.message_retention_seconds, settings.job_max_attempts) == (345_600, 3)
    assert (settings.job_retry_base_delay_s, settings.job_retry_max_delay_s, settings.max_result_bytes) == (
        2,
        300,
        65536,
    )
    assert (settings.job_handlers, settings.reject_unknown_types, settings.event_bus_name) == (None, False, None)


def test_every_variable_is_read() -> None:
    env = {
        **REQUIRED,
        "SEND_MAX_ATTEMPTS": "6",
        "SEND_BASE_DELAY_MS": "20",
        "SEND_MAX_DELAY_MS": "2500",
        "SQS_CONNECT_TIMEOUT_S": "0.5",
        "SQS_READ_TIMEOUT_S": "1.5",
        "DYNAMODB_CONNECT_TIMEOUT_S": "0.25",
        "DYNAMODB_READ_TIMEOUT_S": "0.75",
        "STORE_MAX_ATTEMPTS": "2",
        "DEADLINE_MARGIN_MS": "1500",
        "RECONCILE_GRACE_SECONDS": "120",
        "RECONCILE_BATCH_SIZE": "7",
        "MESSAGE_RETENTION_SECONDS": "3600",
        "JOB_MAX_ATTEMPTS": "5",
        "MAX_BODY_BYTES": "1024",
        "LOG_LEVEL": "debug",
        "JOB_RETRY_BASE_DELAY_S": "5",
        "JOB_RETRY_MAX_DELAY_S": "60",
        "MAX_RESULT_BYTES": "2048",
        "JOB_HANDLERS": "examples.handlers:registry",
        "REJECT_UNKNOWN_TYPES": "true",
        "EVENT_BUS_NAME": "jobs-bus",
        "CALLER_SCOPE": "Session",
    }
    settings = Settings.from_env(env)
    assert settings == Settings(
        table_name="jobs",
        queue_url=REQUIRED["QUEUE_URL"],
        send_max_attempts=6,
        send_base_delay_ms=20,
        send_max_delay_ms=2500,
        sqs_connect_timeout_s=0.5,
        sqs_read_timeout_s=1.5,
        dynamodb_connect_timeout_s=0.25,
        dynamodb_read_timeout_s=0.75,
        store_max_attempts=2,
        deadline_margin_ms=1500,
        reconcile_grace_seconds=120,
        reconcile_batch_size=7,
        message_retention_seconds=3600,
        job_max_attempts=5,
        max_body_bytes=1024,
        log_level="DEBUG",
        job_retry_base_delay_s=5,
        job_retry_max_delay_s=60,
        max_result_bytes=2048,
        job_handlers="examples.handlers:registry",
        reject_unknown_types=True,
        event_bus_name="jobs-bus",
        caller_scope=CallerScope.SESSION,
    )
    assert settings.retry_after_s == 3


@pytest.mark.parametrize("missing", ["TABLE_NAME", "QUEUE_URL"])
def test_a_missing_required_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ConfigurationError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SEND_MAX_ATTEMPTS", "0"),
        ("SEND_MAX_ATTEMPTS", "three"),
        ("SEND_MAX_ATTEMPTS", "2.5"),
        ("SEND_BASE_DELAY_MS", "-1"),
        ("SQS_READ_TIMEOUT_S", "nan"),
        ("SQS_CONNECT_TIMEOUT_S", "inf"),
        ("MAX_BODY_BYTES", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("SEND_MAX_DELAY_MS", "10"),  # below the base delay
        ("STORE_MAX_DELAY_MS", "10"),  # below the store's base delay
        ("STORE_BASE_DELAY_MS", "-1"),
        ("DEADLINE_MARGIN_MS", "500"),  # no room for a rollback write
        ("MESSAGE_RETENTION_SECONDS", "59"),  # below SQS's least
        ("MESSAGE_RETENTION_SECONDS", "1209601"),  # beyond SQS's longest
        ("JOB_MAX_ATTEMPTS", "0"),
        ("JOB_RETENTION_DAYS", "0"),
        ("JOB_ID_KEY", "short-secret"),
        ("JOB_ID_KEY", ""),
        ("JOB_ID_KEY_SECRET", " "),
        ("JOB_ID_KEY", "{{resolve:secretsmanager:None:SecretString:::}}"),
        ("JOB_RETENTION_DAYS", "3651"),
        ("JOB_RETRY_MAX_DELAY_S", "42301"),  # beyond SQS's 12 hours less a worker's longest run
        ("JOB_RETRY_MAX_DELAY_S", "1"),  # below the base delay
        ("MAX_RESULT_BYTES", "131073"),
        ("REJECT_UNKNOWN_TYPES", "yes"),
        ("REJECT_UNKNOWN_TYPES", "true"),  # without JOB_HANDLERS
        ("CALLER_SCOPE", "user"),
    ],
)
def test_a_malformed_value_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({**REQUIRED, name: value})


def test_the_job_id_key_is_read_and_never_shown() -> None:
    secret = "k" * 40
    settings = Settings.from_env({**REQUIRED, "JOB_ID_KEY": secret, "JOB_RETENTION_DAYS": "7"})

    assert settings.job_id_key == secret and settings.job_retention.days == 7
    assert secret not in repr(settings)


def test_the_longest_retry_delay_is_sqss_twelve_hours_less_a_workers_longest_run() -> None:
    assert Settings.from_env({**REQUIRED, "JOB_RETRY_MAX_DELAY_S": "42300"}).job_retry_max_delay_s == 42300


def test_the_key_may_come_from_a_secret_named_instead() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:JobIdKey-AbCdEf"
    assert Settings.from_env({**REQUIRED, "JOB_ID_KEY_SECRET": f" {arn} "}).job_id_key_secret == arn
    assert Settings.from_env(REQUIRED).job_id_key_secret is None
    with pytest.raises(ConfigurationError, match="JOB_ID_KEY or JOB_ID_KEY_SECRET, not both"):
        Settings.from_env({**REQUIRED, "JOB_ID_KEY": "k" * 40, "JOB_ID_KEY_SECRET": arn})


def test_the_container_derives_each_use_cases_settings_from_its_own_variables() -> None:
    """The store's backoff is not the send's: distinct values show which
    setting feeds which policy."""
    settings = Settings.from_env(
        {
            **REQUIRED,
            "SEND_BASE_DELAY_MS": "20",
            "SEND_MAX_DELAY_MS": "2500",
            "STORE_BASE_DELAY_MS": "7",
            "STORE_MAX_DELAY_MS": "70",
            "STORE_MAX_ATTEMPTS": "5",
            "DEADLINE_MARGIN_MS": "4000",
            "RECONCILE_GRACE_SECONDS": "600",
            "RECONCILE_BATCH_SIZE": "9",
            "JOB_MAX_ATTEMPTS": "4",
            "JOB_RETRY_BASE_DELAY_S": "3",
            "JOB_RETRY_MAX_DELAY_S": "90",
            "MAX_RESULT_BYTES": "1000",
        }
    )
    container = Container()
    container.settings.override(providers.Object(settings))
    use_cases = container.use_cases

    assert use_cases.store_policy() == RetryPolicy(5, 0.007, 0.07, 1.5)
    assert use_cases.send_policy() == RetryPolicy(4, 0.02, 2.5, 3.0)
    assert use_cases.enqueue_settings() == EnqueueSettings(timedelta(seconds=4), RetryAfter(queue_s=3, store_s=1))
    assert use_cases.reconcile_settings() == ReconcileSettings(
        grace=timedelta(seconds=600),
        message_retention=timedelta(seconds=345_600),
        batch_limit=9,
        margin=timedelta(seconds=4),
        event_grace=timedelta(seconds=600),
    )
    assert use_cases.work_settings() == WorkSettings(
        max_attempts=4,
        margin=timedelta(seconds=4),
        retry_base_delay=timedelta(seconds=3),
        retry_max_delay=timedelta(seconds=90),
        max_result_bytes=1000,
    )


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("examples.handlers", "must name package.module:attribute"),
        ("examples.no_such_module:registry", "cannot be loaded"),
        ("examples.handlers:no_such_registry", "cannot be loaded"),
        ("examples.handlers:echo", "is not a handler registry"),
    ],
)
def test_a_handler_registry_that_cannot_be_used_is_named(spec: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=f"JOB_HANDLERS={spec!r}.*{why}"):
        load_handlers(spec)


def test_without_a_registry_every_type_is_known_and_succeeds_with_nothing() -> None:
    handlers = load_handlers(None)
    handler = handlers.handler_for("anything")
    assert handlers.knows("anything") and handler is not None


def test_a_body_and_a_result_limit_the_job_item_cannot_hold_together_fail_at_cold_start() -> None:
    from entrypoints.config import ITEM_ROOM, ConfigurationError, Settings

    base = {"TABLE_NAME": "t", "QUEUE_URL": "q", "MAX_RESULT_BYTES": "65536"}
    assert Settings.from_env({**base, "MAX_BODY_BYTES": str(ITEM_ROOM - 65536)}).max_body_bytes == ITEM_ROOM - 65536
    with pytest.raises(ConfigurationError, match=r"MAX_BODY_BYTES .* and MAX_RESULT_BYTES .* at most"):
        Settings.from_env({**base, "MAX_BODY_BYTES": str(ITEM_ROOM - 65535)})
