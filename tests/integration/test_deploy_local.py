"""`make deploy-local` as a user runs it: the real cdk CLI deploys the stack
to a moto server on localhost, and the resources answer through boto3."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from infra.deploy_local import CDK, OUTPUTS, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[str, dict[str, str]]]:
    assert CDK.exists(), "the cdk CLI is installed by `make test` (npm ci)"
    port = free_port()
    # Nothing of make's own silencing: deploy-local must silence what it should itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JSII_SILENCE"))}
    command = [sys.executable, "-m", "infra.deploy_local", "--port", str(port)]
    try:
        result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Deployed to moto server" in result.stdout
        assert "end-of-life and not supported" not in result.stdout + result.stderr  # the banner, silenced
        assert "nothing answers there: serve it with make run" in result.stdout
        yield f"http://localhost:{port}", json.loads(Path(OUTPUTS).read_text())["JobIntake"]
    finally:
        subprocess.run([*command, "--stop"], env=env, cwd=ROOT, check=False, capture_output=True)


def client(service: str, endpoint: str) -> object:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_the_deployed_table_and_queues_answer(deployed: tuple[str, dict[str, str]]) -> None:
    endpoint, outputs = deployed
    table = client("dynamodb", endpoint).describe_table(TableName=outputs["TableName"])["Table"]  # type: ignore[attr-defined]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["watched-by-age", "owned-by-age"]
    sqs = client("sqs", endpoint)
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["All"])["Attributes"]  # type: ignore[attr-defined]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 5
    dead = sqs.get_queue_attributes(QueueUrl=outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"])  # type: ignore[attr-defined]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == dead["Attributes"]["QueueArn"]


def test_the_deployed_functions_run_the_handlers_with_their_environment(deployed: tuple[str, dict[str, str]]) -> None:
    endpoint, outputs = deployed
    functions = client("lambda", endpoint).list_functions()["Functions"]  # type: ignore[attr-defined]
    assert sorted(f["Handler"] for f in functions) == [
        "entrypoints.api.handler",
        "entrypoints.reconciler.handler",
        "entrypoints.worker.handler",
    ]
    for function in functions:
        variables = function["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == outputs["TableName"]
        assert variables["QUEUE_URL"].rsplit("/", 1)[-1] == outputs["QueueUrl"].rsplit("/", 1)[-1]
        assert function["Runtime"] == "python3.14"


def test_the_completion_events_bus_is_deployed_and_named_to_its_putters(
    deployed: tuple[str, dict[str, str]],
) -> None:
    endpoint, outputs = deployed
    bus = client("events", endpoint).describe_event_bus(Name=outputs["EventBusName"])  # type: ignore[attr-defined]
    assert bus["Arn"] == outputs["EventBusArn"]
    functions = client("lambda", endpoint).list_functions()["Functions"]  # type: ignore[attr-defined]
    putters = {f["Handler"] for f in functions if f["Environment"]["Variables"].get("EVENT_BUS_NAME") == bus["Name"]}
    assert putters == {"entrypoints.worker.handler", "entrypoints.reconciler.handler", "entrypoints.api.handler"}


def test_the_api_reads_its_key_from_a_secret_and_holds_no_key_itself(deployed: tuple[str, dict[str, str]]) -> None:
    endpoint, _ = deployed
    functions = client("lambda", endpoint).list_functions()["Functions"]  # type: ignore[attr-defined]
    [api] = [f for f in functions if f["Handler"] == "entrypoints.api.handler"]
    arn = api["Environment"]["Variables"]["JOB_ID_KEY_SECRET"]
    key = client("secretsmanager", endpoint).get_secret_value(SecretId=arn)["SecretString"]  # type: ignore[attr-defined]
    assert len(key) >= 32
    for function in functions:
        assert "JOB_ID_KEY" not in function["Environment"]["Variables"]
        assert key not in json.dumps(function)
