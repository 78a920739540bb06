"""Hypothesis-generated API Gateway events against the API handler: never
an unhandled exception, always a well-formed answer, and a 4xx writes
nothing.

API_FUZZ_EXAMPLES sets the number of events (600 by default)."""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.retry import RetryPolicy
from entrypoints.jobs_api import JobsApi
from entrypoints.lambda_context import LocalContext
from tests.events import iam_identity
from tests.fakes import FakeJobPublisher, FakeJobRepository, FakeMetrics, OnFakes

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "600"))
MAX_BODY = 2048
STATUSES = {200, 202, 400, 403, 404, 405, 409, 413, 415, 422, 500, 503}

texts = st.text(max_size=40) | st.sampled_from(["", " ", "\x00", "\ud800", "é" * 300, "a" * 5000])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["resize", "a.b:c-d_e", "", "x" * 65, "bad type"]) | texts, "payload": json_values}
    ),
    st.dictionaries(texts, json_values, max_size=4),
    json_values,
)
bodies = st.one_of(
    st.none(),
    texts,
    documents.map(json.dumps),
    documents.map(lambda d: json.dumps(d, ensure_ascii=False)),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.just("x" * (MAX_BODY + 1)),
    st.sampled_from(['{"type":"resize","payload":{"n":1e400}}', '{"type":"resize","payload":{"n":-1e999}}']),
)
header_names = (
    st.sampled_from(["Content-Type", "content-type", "Idempotency-Key", "X-Correlation-Id", "Accept"]) | texts
)
header_values = (
    st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "application/problem+json", "text/plain", ""]
    )
    | texts
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    body = draw(bodies)
    encoded = draw(st.booleans())
    if encoded and body is not None and draw(st.booleans()):
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    generated = {
        "httpMethod": draw(st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "", "post"])),
        "path": draw(st.sampled_from(["/jobs", "/jobs/", "/jobs/abc", "/jobs/a/b", "/", ""]) | texts),
        "headers": draw(st.none() | st.dictionaries(header_names, header_values, max_size=5)),
        "requestContext": draw(
            st.none()
            | st.fixed_dictionaries({"requestId": texts})
            | st.fixed_dictionaries({"requestId": texts, "identity": st.just(iam_identity("fuzz-app"))})
        ),
        "body": body,
        "isBase64Encoded": encoded,
    }
    return draw(st.just(generated) | st.sampled_from([None, [], "event", 7, {}]))


@st.composite
def near_valid_submissions(draw: st.DrawFn) -> Any:
    """Right method, path and media type; the rest random: reaches 202s."""
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "application/vnd.api+json"]))}
    for name in ("Idempotency-Key", "X-Correlation-Id"):
        if draw(st.booleans()):
            headers[name] = draw(st.sampled_from(["k1", "k2", "corr"]) | texts)
    payload = draw(st.dictionaries(texts, json_values, max_size=4))
    job_type = draw(st.sampled_from(["resize", "a.b:c-d_e"]) | texts)
    return {
        "httpMethod": "POST",
        "path": "/jobs",
        "headers": headers,
        "requestContext": {"requestId": "r", "identity": iam_identity("fuzz-app")},
        "body": json.dumps({"type": job_type, "payload": payload}, ensure_ascii=draw(st.booleans())),
        "isBase64Encoded": False,
    }


def build() -> tuple[JobsApi, FakeJobRepository, FakeJobPublisher]:
    policy = RetryPolicy(max_attempts=2, base_delay_s=0, max_delay_s=0, attempt_timeout_s=1)
    fakes = OnFakes(send_policy=policy, store_policy=policy, margin=timedelta(seconds=2))
    api = fakes.api(max_body_bytes=MAX_BODY, metrics=FakeMetrics())
    return api, fakes.jobs, fakes.queue


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events() | near_valid_submissions())
def test_any_event_gets_a_well_formed_answer_and_a_4xx_writes_nothing(request: Any) -> None:
    api, jobs, queue = build()

    response = api(request, LocalContext(30_000))
    event(f"status {response['statusCode']}")

    assert response["statusCode"] in STATUSES
    headers = response["headers"]
    assert headers["X-Correlation-Id"] and headers["Content-Type"] in ("application/json", "application/problem+json")
    body = json.loads(response["body"])
    assert isinstance(body, dict)
    if response["statusCode"] >= 400:
        assert body["type"] != "/problems/internal-error", body  # no unhandled exception
        assert body["status"] == response["statusCode"] and isinstance(body["retryable"], bool)
    if 400 <= response["statusCode"] < 500:
        assert jobs.jobs == {} and queue.sent == []
