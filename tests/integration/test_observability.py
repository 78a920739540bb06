"""What an operator sees: one JSON log line per send attempt and per
rollback, EMF metrics, and never the payload."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

from adapters.emf_metrics import EmfMetrics
from chaos.faults import AwsError, FaultInjector
from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from tests.events import submit

SECRET = "payload-secret-5f1c"


@pytest.fixture
def json_log(json_log_of: Callable[[str], io.StringIO]) -> io.StringIO:
    """What the service logs, formatted as in Lambda."""
    return json_log_of("jobs")


@pytest.fixture
def emf(container: Container) -> io.StringIO:
    stream = io.StringIO()
    container.ports.metrics.override(EmfMetrics("job-intake", stream))
    return stream


def test_each_attempt_and_the_rollback_get_a_line_with_the_ids(
    container: Container, faults: FaultInjector, json_log: io.StringIO, emf: io.StringIO
) -> None:
    faults.add("SendMessage", *[AwsError(400, "RequestThrottled", "RequestThrottled")] * 4)

    response = container.jobs_api()(submit({"secret": SECRET}), LocalContext(30_000))

    assert response["statusCode"] == 503
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    attempts = [line for line in lines if line["message"] == "send attempt failed"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    for line in attempts:
        assert line["code"] == "RequestThrottled" and line["kind"] == "throttled" and line["http_status"] == 400
        assert line["sqs_request_id"] == "injected-request-id"
        assert line["correlation_id"] == "apigw-request-1" and line["job_id"] and line["enqueue_id"]
    assert all("delay_ms" in a for a in attempts[:3]) and attempts[3]["decision"] == "GiveUp"
    [rollback] = [line for line in lines if line["message"] == "rolled back to PENDING"]
    assert rollback["code"] == "RequestThrottled" and rollback["job_id"] == attempts[0]["job_id"]
    assert SECRET not in json_log.getvalue()

    [document] = [json.loads(line) for line in emf.getvalue().splitlines()]
    names = {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"SendRetries", "Rollbacks"}
    assert (document["SendRetries"], document["Rollbacks"]) == (3, 1)


def test_an_accepted_job_counts_once_and_metrics_are_flushed_per_request(
    container: Container, emf: io.StringIO
) -> None:
    api = container.jobs_api()

    api(submit(), LocalContext(30_000))
    api(submit(), LocalContext(30_000))

    documents = [json.loads(line) for line in emf.getvalue().splitlines()]
    assert [d["JobsAccepted"] for d in documents] == [1, 1]
    assert documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "JobIntake"
