"""The check before a rotation's last step: no job made with the previous
key may still be live, in flight or settled and unexpired."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from adapters.dynamodb_repository import DynamoDbJobRepository
from adapters.runtime import UuidIds
from domain.failures import FailureKind, LastError
from domain.job import Job, Retention
from entrypoints.key_rotation import main
from tests.fakes import FakeClock
from tests.integration.conftest import Aws

OLD, NEW = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
OWNER = "arn:aws:iam::123456789012:role/orders"
RETENTION = Retention(timedelta(days=30))


def stored(aws: Aws, key: str, idempotency_key: str, *, settled_days_ago: float | None = None) -> str:
    """A job keyed under ``key``: in flight, or settled that many days ago."""
    now = datetime.now(UTC)
    at = now - timedelta(days=settled_days_ago or 0)
    job = Job.submitted(
        job_id=UuidIds(key).job_id_for_key(OWNER, idempotency_key),
        job_type="t",
        request_hash="h",
        correlation_id="c",
        owner=OWNER,
        idempotency_key=idempotency_key,
        at=at,
    ).queued(enqueue_id="e", correlation_id="c", at=at, lease_until=at)
    if settled_days_ago is not None:
        error = LastError("Throttled", FailureKind.THROTTLED, "slow down", at)
        job = job.rolled_back(error=error, attempts=1, at=at)
    DynamoDbJobRepository(aws.dynamodb, aws.table_name, FakeClock(now), RETENTION).create(job)
    return job.job_id


def secret(aws: Aws, value: dict[str, str]) -> str:
    arn: str = boto3.client("secretsmanager").create_secret(
        Name=f"key-{aws.table_name}-{len(value)}-{secrets.token_hex(2)}", SecretString=json.dumps(value)
    )["ARN"]
    return arn


def test_live_jobs_of_the_previous_key_hold_the_last_step_back(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    in_flight = stored(aws, OLD, "order-1")
    recent = stored(aws, OLD, "order-2", settled_days_ago=29)
    stored(aws, OLD, "order-3", settled_days_ago=31)  # expired: a retry would make a new job anyway
    stored(aws, NEW, "order-4")
    arn = secret(aws, {"current": NEW, "previous": OLD})

    assert main(["--table", aws.table_name, "--secret", arn]) == 1

    shown = capsys.readouterr().out
    assert "2 job(s) made with the previous key are live" in shown
    assert in_flight in shown and recent in shown


def test_with_none_live_the_last_step_may_be_taken(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    stored(aws, OLD, "order-3", settled_days_ago=31)
    stored(aws, NEW, "order-4")
    arn = secret(aws, {"current": NEW, "previous": OLD})

    assert main(["--table", aws.table_name, "--secret", arn]) == 0
    assert "put the current key alone" in capsys.readouterr().out


@pytest.mark.parametrize("value", [{"current": OLD, "next": NEW}, {"current": NEW}])
def test_outside_a_rotations_second_phase_it_says_so(aws: Aws, value: dict[str, str]) -> None:
    assert main(["--table", aws.table_name, "--secret", secret(aws, value)]) == 2
