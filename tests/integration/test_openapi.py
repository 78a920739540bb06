"""The OpenAPI document against the running service: schemathesis drives
`make run`'s server with requests drawn from the document (and requests
that break it), and every answer must be no server error and conform to
the document: status, content type, headers and body."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.conftest import local_server

EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "60"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with local_server() as (_, base):
        yield base


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_answer_conforms_to_the_document(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


def test_a_job_read_back_conforms_to_the_document(api_schema: Any, base_url: str) -> None:
    """Drawn ids are never a job's: this reads a real one, so that the 200
    and its Job schema are checked too."""
    request = urllib.request.Request(
        f"{base_url}/jobs",
        data=json.dumps({"type": "resize", "payload": {"width": 640}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        job_id = json.load(answer)["job_id"]

    case = api_schema["/jobs/{job_id}"]["GET"].Case(path_parameters={"job_id": job_id})
    response = case.call_and_validate(checks=CHECKS)

    assert response.status_code == 200
