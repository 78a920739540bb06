"""Requests reach their route in the shapes API Gateway really sends: the
stage in ``requestContext.path`` only, a custom domain's base path and a
trailing slash in ``path``, the matched resource in ``resource``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from entrypoints.jobs_api import JobsApi
from entrypoints.lambda_context import LocalContext
from tests.events import iam_identity
from tests.fakes import OnFakes

BODY = json.dumps({"type": "resize", "payload": {"width": 640}})


def rest_event(
    method: str,
    path: str,
    resource: str,
    *,
    job_id: str | None = None,
    body: str | None = None,
    domain: str = "abc123.execute-api.eu-west-1.amazonaws.com",
    context_path: str | None = None,
) -> dict[str, Any]:
    """A REST API proxy event (payload 1.0) as API Gateway builds it, with
    every field its documentation and SAM's ``generate-event`` show."""
    headers = {"Content-Type": "application/json", "Host": domain, "X-Forwarded-Proto": "https"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"job_id": job_id} if job_id else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "2gxmpl",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": "JJbxmHEHMF8Fcmw=",
            "requestTime": "28/Nov/2026:19:03:58 +0000",
            "path": context_path or f"/v1{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "v1",
            "domainPrefix": domain.split(".")[0],
            "requestTimeEpoch": 1795374238000,
            "requestId": "e0b3a4b4-7c2a-4b53-9d3a-1f0f0e6d1a11",
            "identity": iam_identity("orders-api"),
            "domainName": domain,
            "apiId": "abc123",
        },
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.fixture
def api() -> JobsApi:
    fakes = OnFakes()
    return fakes.api()


def call(api: JobsApi, event: dict[str, Any]) -> dict[str, Any]:
    return api(event, LocalContext(int(timedelta(seconds=30).total_seconds() * 1000)))


SUBMISSIONS = {
    "execute-api endpoint": rest_event("POST", "/jobs", "/jobs", body=BODY),
    "trailing slash": rest_event("POST", "/jobs/", "/jobs", body=BODY),
    "custom domain base path": rest_event(
        "POST", "/intake/jobs", "/jobs", body=BODY, domain="api.example.com", context_path="/intake/jobs"
    ),
}
# Where each 202's Location leads, relative to the host the client called.
LOCATIONS = {
    "execute-api endpoint": "/v1/jobs/",
    "trailing slash": "/v1/jobs/",
    "custom domain base path": "/intake/jobs/",
}


@pytest.mark.parametrize("shape", SUBMISSIONS, ids=list(SUBMISSIONS))
def test_a_submission_reaches_the_collection_in_every_shape(api: JobsApi, shape: str) -> None:
    answer = call(api, SUBMISSIONS[shape])
    job_id = json.loads(answer["body"])["job_id"]

    reads = [
        rest_event("GET", f"/jobs/{job_id}", "/jobs/{job_id}", job_id=job_id),
        rest_event("GET", f"/jobs/{job_id}/", "/jobs/{job_id}", job_id=job_id),
        rest_event(
            "GET",
            f"/intake/jobs/{job_id}",
            "/jobs/{job_id}",
            job_id=job_id,
            domain="api.example.com",
            context_path=f"/intake/jobs/{job_id}",
        ),
    ]

    assert answer["statusCode"] == 202
    assert answer["headers"]["Location"] == LOCATIONS[shape] + job_id
    assert [call(api, read)["statusCode"] for read in reads] == [200, 200, 200]


def test_without_a_resource_the_path_routes_as_the_local_server_sends_it(api: JobsApi) -> None:
    event = rest_event("POST", "/jobs/", "/jobs", body=BODY)
    del event["resource"]
    job_id = json.loads(call(api, event)["body"])["job_id"]
    read = rest_event("GET", f"/jobs/{job_id}/", "/jobs/{job_id}")
    del read["resource"]

    assert call(api, read)["statusCode"] == 200


@pytest.mark.parametrize(
    ("method", "path", "resource", "status"),
    [
        ("DELETE", "/jobs", "/jobs", 405),
        ("DELETE", "/jobs/x", "/jobs/{job_id}", 405),
        ("GET", "/jobs/x/cancel", "/jobs/{job_id}/cancel", 405),
        ("GET", "/jobs/x/retry", "/jobs/{job_id}/retry", 405),
        ("GET", "/things", "/things", 404),
        ("GET", "/jobs/a/b", "/{proxy+}", 404),
        ("POST", "/jobs/a/stop", "/{proxy+}", 404),
    ],
)
def test_what_is_not_a_route_is_405_or_404(api: JobsApi, method: str, path: str, resource: str, status: int) -> None:
    event = rest_event(method, path, resource, job_id="x" if "{job_id}" in resource else None)
    assert call(api, event)["statusCode"] == status


def test_a_deployment_that_refuses_unknown_types_answers_400_before_writing_anything() -> None:
    from examples.handlers import registry

    fakes = OnFakes()
    strict = fakes.api(known_type=registry.knows)
    unknown = json.dumps({"type": "resize", "payload": {}})
    known = json.dumps({"type": "echo", "payload": {}})

    refused = call(strict, rest_event("POST", "/jobs", "/jobs", body=unknown))

    assert refused["statusCode"] == 400
    assert json.loads(refused["body"])["type"] == "/problems/unknown-job-type"
    assert fakes.jobs.jobs == {} and fakes.queue.calls == 0
    assert call(strict, rest_event("POST", "/jobs", "/jobs", body=known))["statusCode"] == 202
