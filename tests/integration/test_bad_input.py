"""Every kind of bad request gets its 4xx problem and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from dependency_injector import providers

from chaos.faults import FaultInjector
from domain.nesting import MAX_NESTING
from domain.submission import SQS_TEXT
from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from tests.events import JSON, body_of, event, submit
from tests.fakes import strict_json
from tests.integration.conftest import Aws, settings_for

LONG_TYPE = "t" * 65


def nested(levels: int) -> dict[str, Any]:
    """An object holding arrays, ``levels`` deep in all."""
    inner: Any = []
    for _ in range(levels - 2):
        inner = [inner]
    return {"x": inner}


BAD_REQUESTS: list[tuple[str, dict[str, Any], int]] = [
    ("no content type", event("POST", "/jobs", '{"type":"a","payload":{}}', {}), 415),
    ("text/plain", event("POST", "/jobs", '{"type":"a","payload":{}}', {"Content-Type": "text/plain"}), 415),
    ("no body", event("POST", "/jobs", None, JSON), 400),
    ("gzip body", event("POST", "/jobs", b"\x1f\x8b\x08\x00", {**JSON, "Content-Encoding": "gzip"}), 415),
    ("empty body", event("POST", "/jobs", "", JSON), 400),
    ("malformed json", event("POST", "/jobs", '{"type": "a",', JSON), 400),
    ("raw control character", event("POST", "/jobs", '{"type":"a","payload":{"x":"a\x01b"}}', JSON), 400),
    ("lone surrogate", event("POST", "/jobs", '{"type":"a","payload":{"x":"\\ud800"}}', JSON), 400),
    ("NaN", event("POST", "/jobs", '{"type":"a","payload":{"x":NaN}}', JSON), 400),
    ("overflowing number", event("POST", "/jobs", '{"type":"a","payload":{"n":1e400}}', JSON), 400),
    ("overflowing negative number", event("POST", "/jobs", '{"type":"a","payload":{"n":[-1e400]}}', JSON), 400),
    ("not utf-8", event("POST", "/jobs", b'{"type":"a","payload":{"x":"\xff"}}', JSON), 400),
    ("bad base64", event("POST", "/jobs", "%%%not base64", JSON, base64_encoded=True), 400),
    ("array body", event("POST", "/jobs", "[1, 2]", JSON), 400),
    ("payload not an object", submit(payload=[1, 2]), 400),
    ("type not a string", event("POST", "/jobs", '{"type": 7, "payload": {}}', JSON), 400),
    ("type missing", event("POST", "/jobs", '{"payload": {}}', JSON), 400),
    ("type empty", submit(job_type=""), 400),
    ("type too long", submit(job_type=LONG_TYPE), 400),
    ("type with a space", submit(job_type="re size"), 400),
    ("unexpected field", submit(priority=1), 400),
    ("idempotency key too long", submit(headers={"Idempotency-Key": "k" * 256}), 400),
    ("idempotency key not ascii", submit(headers={"Idempotency-Key": "clé"}), 400),
    ("correlation id with a newline", submit(headers={"X-Correlation-Id": "a\nb"}), 400),
    (
        "deeply nested",
        event("POST", "/jobs", '{"type":"a","payload":' + "[" * 100_000 + "]" * 100_000 + "}", JSON),
        400,
    ),
    # About 2 KB that parses, and then broke the request hash: a 500 that paged on-call.
    (
        "nested 975 deep",
        event("POST", "/jobs", '{"type":"a","payload":{"x":' + "[" * 974 + "]" * 974 + "}}", JSON),
        400,
    ),
    ("nested one past the limit", submit(payload=nested(MAX_NESTING + 1)), 400),
    ("unknown path", event("POST", "/things", "{}", JSON), 404),
    ("DELETE on the collection", event("DELETE", "/jobs"), 405),
    ("GET on a cancel", event("GET", "/jobs/abc/cancel"), 405),
    ("DELETE on a job", event("DELETE", "/jobs/abc"), 405),
    ("not an api gateway event", {"Records": []}, 400),
]


@pytest.mark.parametrize(("request_event", "status"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_a_bad_request_gets_its_problem_and_writes_nothing(
    container: Container, aws: Aws, faults: FaultInjector, request_event: dict[str, Any], status: int
) -> None:
    response = container.jobs_api()(request_event, LocalContext(30_000))

    assert response["statusCode"] == status
    assert response["headers"]["Content-Type"] == "application/problem+json"
    problem = body_of(response)
    assert problem["status"] == status and problem["retryable"] is False
    assert {"type", "title", "detail", "correlation_id"} <= set(problem)
    assert faults.calls == {}  # not one AWS call
    assert aws.items() == [] and aws.messages() == []


def test_a_body_over_the_limit_is_413(aws: Aws, faults: FaultInjector) -> None:
    container = Container()
    container.settings.override(providers.Object(settings_for(aws, max_body_bytes=100)))
    faults.attach(container.ports.dynamodb_client())

    response = container.jobs_api()(submit({"blob": "x" * 100}), LocalContext(30_000))

    assert response["statusCode"] == 413
    assert faults.calls == {}


def test_an_unknown_job_is_a_404_problem(container: Container) -> None:
    response = container.jobs_api()(event("GET", "/jobs/no-such-job"), LocalContext(30_000))
    assert response["statusCode"] == 404
    assert body_of(response)["job_id"] == "no-such-job"


@pytest.mark.parametrize(
    "text",
    ["tab\tnew\nline\rnul\x00bell\x07esc\x1b", "\ufffe\uffff", "emoji 😀 and \u2028 separators", "\ud7ff\ue000"],
    ids=["control", "nonchars", "astral", "edges"],
)
def test_payload_text_that_sqs_would_refuse_raw_is_escaped_into_the_message(
    container: Container, aws: Aws, text: str
) -> None:
    response = container.jobs_api()(submit({"text": text}), LocalContext(30_000))

    assert response["statusCode"] == 202
    [message] = aws.messages()
    assert SQS_TEXT.fullmatch(message["Body"])  # moto does not check this; real SQS does
    assert strict_json(message["Body"])["payload"] == {"text": text}


def test_very_large_integers_and_tiny_floats_stay_allowed_and_the_message_stays_strict_json(
    container: Container, aws: Aws
) -> None:
    body = '{"type":"a","payload":{"big":' + "9" * 400 + ',"tiny":1e-400,"neg":-12345678901234567890}}'

    response = container.jobs_api()(event("POST", "/jobs", body, JSON), LocalContext(30_000))

    assert response["statusCode"] == 202
    [message] = aws.messages()
    payload = strict_json(message["Body"])["payload"]
    assert payload == {"big": int("9" * 400), "tiny": 0.0, "neg": -12345678901234567890}


def test_an_id_longer_than_any_job_id_is_a_404_without_reading_the_store(
    container: Container, faults: FaultInjector
) -> None:
    # Real DynamoDB refuses a key over 2 KB with a ValidationException (moto does not).
    response = container.jobs_api()(event("GET", "/jobs/" + "x" * 3000), LocalContext(30_000))

    assert response["statusCode"] == 404 and body_of(response)["type"] == "/problems/job-not-found"
    assert faults.calls == {}


def test_a_payload_nested_to_the_limit_is_accepted_and_one_level_more_is_refused_saying_so(
    container: Container,
) -> None:
    api = container.jobs_api()

    at_limit = api(submit(payload=nested(MAX_NESTING)), LocalContext(30_000))
    past = api(submit(payload=nested(MAX_NESTING + 1)), LocalContext(30_000))

    assert at_limit["statusCode"] == 202
    assert (past["statusCode"], body_of(past)["type"]) == (400, "/problems/invalid-job")
    assert body_of(past)["detail"] == f"payload must nest objects and arrays at most {MAX_NESTING} levels deep"
