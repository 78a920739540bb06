"""The job-id key from Secrets Manager: read once per environment, never
from the function's configuration, and a cold start that cannot read it
says which secret and why."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from dependency_injector import providers

from adapters.runtime import UuidIds
from chaos.faults import AwsError, FaultInjector, Raise, never_connected
from entrypoints.config import ConfigurationError
from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from tests.conftest import Records
from tests.events import TESTER, body_of, submit
from tests.integration.conftest import Aws, settings_for


def counted(client: Any) -> Counter[str]:
    calls: Counter[str] = Counter()
    client.meta.events.register("before-send", lambda request, **_: calls.update([operation(request)]))
    return calls


def operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    return (target.decode() if isinstance(target, bytes) else str(target)).rsplit(".", 1)[-1]


def container_reading(aws: Aws, secret_id: str) -> Container:
    container = Container()
    container.settings.override(providers.Object(settings_for(aws, job_id_key_secret=secret_id)))
    return container


def owner_of(aws: Aws, job_id: str) -> str:
    item = aws.item(job_id)
    assert item is not None and TESTER in item["owner"]["S"]
    return str(item["owner"]["S"])


def keyed(key: str) -> dict[str, Any]:
    return submit(headers={"Idempotency-Key": key})


def test_keyed_ids_are_made_with_the_secrets_key_read_once(aws: Aws) -> None:
    key = secrets.token_urlsafe(32)
    arn = boto3.client("secretsmanager").create_secret(Name=f"job-id-key-{aws.table_name}", SecretString=key)["ARN"]
    container = container_reading(aws, arn)
    calls = counted(container.ports.secrets_client())
    api = container.jobs_api()

    answers = [body_of(api(keyed(f"order-{n}"), LocalContext(30_000))) for n in range(3)]

    owner = owner_of(aws, answers[0]["job_id"])
    assert [a["job_id"] for a in answers] == [UuidIds(key).job_id_for_key(owner, f"order-{n}") for n in range(3)]
    assert calls == Counter({"GetSecretValue": 1})


def test_a_secret_that_is_missing_stops_the_cold_start_naming_it(aws: Aws) -> None:
    container = container_reading(aws, "no-such-secret")

    with pytest.raises(RuntimeError, match="the secret no-such-secret could not be read: ResourceNotFoundException"):
        container.jobs_api()


@pytest.mark.parametrize("value", ["short", "{{resolve:secretsmanager:x:SecretString:::}}"])
def test_a_secret_that_is_no_key_stops_the_cold_start_naming_it(aws: Aws, value: str) -> None:
    name = f"bad-key-{aws.table_name}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)

    with pytest.raises(ConfigurationError, match=f"the secret {name} \\(JOB_ID_KEY_SECRET\\)"):
        container_reading(aws, name).jobs_api()


def test_a_binary_secret_is_refused(aws: Aws) -> None:
    name = f"binary-key-{aws.table_name}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretBinary=secrets.token_bytes(48))

    with pytest.raises(RuntimeError, match="holds binary data, not a string"):
        container_reading(aws, name).jobs_api()


def test_a_throttled_read_is_retried_and_a_failed_cold_start_is_tried_again(aws: Aws) -> None:
    key = secrets.token_urlsafe(32)
    name = f"flaky-key-{aws.table_name}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=key)
    container = container_reading(aws, name)
    calls = counted(container.ports.secrets_client())  # before the faults, so that it sees every attempt
    faults = FaultInjector()
    faults.attach(container.ports.secrets_client())
    # Two attempts per read: the first read fails on both, the second (the
    # environment's next invocation) after one more throttle.
    throttled = AwsError(400, "ThrottlingException")
    faults.add("GetSecretValue", Raise(never_connected), throttled, throttled)

    with pytest.raises(RuntimeError, match="could not be read: ThrottlingException"):
        container.jobs_api()
    answer = container.jobs_api()(keyed("order-1"), LocalContext(30_000))

    assert answer["statusCode"] == 202
    job_id = body_of(answer)["job_id"]
    assert job_id == UuidIds(key).job_id_for_key(owner_of(aws, job_id), "order-1")
    assert calls["GetSecretValue"] == 4


def test_a_secrets_manager_that_cannot_be_reached_is_named_as_such(aws: Aws) -> None:
    name = f"unreachable-key-{aws.table_name}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=secrets.token_urlsafe(32))
    container = container_reading(aws, name)
    faults = FaultInjector()
    faults.attach(container.ports.secrets_client())
    faults.add("GetSecretValue", Raise(never_connected), Raise(never_connected))

    with pytest.raises(RuntimeError, match=f"the secret {name} could not be read: EndpointConnectionError"):
        container.jobs_api()


def test_the_key_comes_from_one_place_only(aws: Aws) -> None:
    with pytest.raises(ConfigurationError, match="set JOB_ID_KEY or JOB_ID_KEY_SECRET, not both"):
        settings_for(aws, job_id_key="k" * 40, job_id_key_secret="arn:aws:secretsmanager:us-east-1:1:secret:k")


def test_in_a_rotation_a_key_made_under_the_old_key_is_found_by_the_new(
    aws: Aws, log_of: Callable[[str], Records]
) -> None:
    log = log_of("jobs.api")
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    client = boto3.client("secretsmanager")
    name = f"rotated-key-{aws.table_name}"
    client.create_secret(Name=name, SecretString=old)
    before = body_of(container_reading(aws, name).jobs_api()(keyed("order-1"), LocalContext(30_000)))
    client.put_secret_value(SecretId=name, SecretString=json.dumps({"current": old, "next": new}))
    first_phase = body_of(container_reading(aws, name).jobs_api()(keyed("order-2"), LocalContext(30_000)))
    client.put_secret_value(SecretId=name, SecretString=json.dumps({"current": new, "previous": old}))
    second_phase = container_reading(aws, name).jobs_api()

    again = body_of(second_phase(keyed("order-1"), LocalContext(30_000)))
    again_2 = body_of(second_phase(keyed("order-2"), LocalContext(30_000)))
    fresh = body_of(second_phase(keyed("order-3"), LocalContext(30_000)))

    owner = owner_of(aws, before["job_id"])
    assert before["job_id"] == again["job_id"] == UuidIds(old).job_id_for_key(owner, "order-1")
    assert first_phase["job_id"] == again_2["job_id"] == UuidIds(old).job_id_for_key(owner, "order-2")
    assert fresh["job_id"] == UuidIds(new).job_id_for_key(owner, "order-3")
    assert len(aws.items()) == 3
    phases = [fields["rotation_phase"] for _, text, fields in log.of("rotation_phase") if text == "job-id key read"]
    assert phases == [0, 1, 2]
    assert not any(key in str(record.__dict__) for record in log.records for key in (old, new))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (json.dumps({"current": "a" * 40, "next": "b" * 40, "previous": "c" * 40}), "must hold"),
        (json.dumps({"next": "b" * 40}), "must hold"),
        (json.dumps({"current": "a" * 40, "next": 7}), "each a string"),
        (json.dumps({"current": "a" * 40, "next": "a" * 40}), "the same key"),
        (json.dumps({"current": "a" * 40, "next": "short"}), "at least 32 characters"),
        ("{not json", "nor a JSON object"),
    ],
)
def test_a_rotation_secret_that_is_not_two_keys_stops_the_cold_start(aws: Aws, value: str, message: str) -> None:
    name = f"bad-rotation-{aws.table_name}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)

    with pytest.raises(RuntimeError, match=message) as caught:
        container_reading(aws, name).jobs_api()
    assert "a" * 40 not in str(caught.value)
