from __future__ import annotations

from datetime import timedelta

import pytest
from dependency_injector import providers

from domain.answers import RetryAfter
from domain.enqueue import EnqueueSettings
from domain.reconcile import ReconcileSettings
from domain.retry import RetryPolicy
from domain.work import WorkSettings
from entrypoints.config import ConfigurationError, Settings
from entrypoints.containers import Container

REQUIRED = {"TABLE_NAME": "jobs", "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"}


def test_the_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env(REQUIRED)
    assert (settings.send_max_attempts, settings.send_base_delay_ms, settings.send_max_delay_ms) == (4, 50, 1000)
    assert (settings.sqs_connect_timeout_s, settings.sqs_read_timeout_s) == (1.0, 2.0)
    assert (settings.deadline_margin_ms, settings.reconcile_grace_seconds) == (3000, 300)
    assert (settings.max_body_bytes, settings.log_level, settings.retry_after_s) == (262144, "INFO", 1)
    assert (settings.message_retention_seconds, settings.worker_max_claims) == (345_600, 3)


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
        "WORKER_MAX_CLAIMS": "5",
        "MAX_BODY_BYTES": "1024",
        "LOG_LEVEL": "debug",
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
        worker_max_claims=5,
        max_body_bytes=1024,
        log_level="DEBUG",
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
        ("WORKER_MAX_CLAIMS", "0"),
        ("JOB_RETENTION_DAYS", "0"),
        ("JOB_ID_KEY", "short-secret"),
        ("JOB_ID_KEY", ""),
        ("JOB_ID_KEY", "{{resolve:secretsmanager:None:SecretString:::}}"),
        ("JOB_RETENTION_DAYS", "3651"),
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
            "WORKER_MAX_CLAIMS": "4",
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
    )
    assert use_cases.work_settings() == WorkSettings(max_claims=4, margin=timedelta(seconds=4))
