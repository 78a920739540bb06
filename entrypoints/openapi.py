"""The HTTP API as an OpenAPI 3.0 document: the one description of it.

The REST API's request model (``infra/api.py``) is built from ``JOB_REQUEST``
here, and ``make run`` serves ``document()`` at ``GET /openapi.json``; the
handler remains the authority on what it accepts (it also refuses what no
schema says, such as a body whose message would not fit SQS).
"""

from __future__ import annotations

from typing import Any

from domain.nesting import MAX_NESTING
from domain.submission import JOB_TYPE
from entrypoints.api_gateway import PROBLEM_JSON

# Printable ASCII, 1 to 255 characters (domain.submission.HEADER_TOKEN).
TOKEN = {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$", "minLength": 1, "maxLength": 255}

JOB_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["type", "payload"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "pattern": f"^{JOB_TYPE.pattern}$", "minLength": 1, "maxLength": 64},
        "payload": {
            "type": "object",
            "description": (
                f"Anything the job's worker reads; finite numbers only, objects and arrays nested at most "
                f"{MAX_NESTING} levels deep."
            ),
        },
    },
}

PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail", "correlation_id", "retryable"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "correlation_id": {"type": "string"},
        "retryable": {
            "type": "boolean",
            "description": "Whether repeating the request (with the same Idempotency-Key) may succeed.",
        },
        "job_id": {"type": "string"},
    },
}

ACCEPTED: dict[str, Any] = {
    "type": "object",
    "required": ["job_id", "status", "correlation_id"],
    "properties": {
        "job_id": {"type": "string"},
        "status": {"type": "string", "enum": ["QUEUED"]},
        "correlation_id": {"type": "string"},
    },
}

JOB_VIEW: dict[str, Any] = {
    "type": "object",
    "required": ["job_id", "status", "type", "created_at", "updated_at", "attempts", "processing_attempts"],
    "properties": {
        "job_id": {"type": "string"},
        "status": {"type": "string", "enum": ["PENDING", "QUEUED", "PROCESSING", "SUCCEEDED", "FAILED"]},
        "type": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "attempts": {"type": "integer", "minimum": 0, "description": "SendMessage attempts, over every episode."},
        "processing_attempts": {
            "type": "integer",
            "minimum": 0,
            "description": "Runs of the job's handler in this episode (retries and takeovers included).",
        },
        "result": {
            "description": "What the handler returned, for a SUCCEEDED job (absent when it returned nothing). "
            "At most MAX_RESULT_BYTES (64 KiB by default) of JSON: bigger outputs belong in S3, referenced here.",
        },
        "last_error": {
            "type": "object",
            "required": ["code", "kind", "message", "at"],
            "properties": {
                "code": {"type": "string"},
                "kind": {"type": "string"},
                "message": {
                    "type": "string",
                    "description": "The handler's own message, or for a failure of AWS a fixed text per service "
                    "and kind (the service's wording stays in the logs).",
                },
                "at": {"type": "string", "format": "date-time"},
            },
        },
    },
}

_CORRELATION = {"X-Correlation-Id": {"$ref": "#/components/headers/CorrelationId"}}
_RETRY_AFTER = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}


def _problem(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {**_CORRELATION, **(_RETRY_AFTER if retry_after else {})},
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# What API Gateway itself may answer any request (infra/gateway_responses.py).
_GATEWAY = {
    "403": _problem(
        "Not signed (SigV4), not allowed, or no such resource (API Gateway); a deployment that names "
        "client applications also wants the application's key in x-api-key (invalid-api-key); or nothing "
        "authenticated the request (no-caller, from the service)."
    ),
    "429": _problem(
        "Throttled by API Gateway (throttled, with Retry-After); or, where client applications are named, "
        "the application's daily quota is used up (quota-exceeded, without Retry-After: not until the next "
        "day, UTC).",
        retry_after=True,
    ),
    "502": _problem("The function failed before answering (API Gateway); repeat with the same key."),
    "504": _problem("The function did not answer in time (API Gateway); repeat with the same key.", retry_after=True),
}


def document(server: str | None = None, *, signed: bool = True) -> dict[str, Any]:
    """The OpenAPI document; ``server``: the base URL it is served from;
    ``signed``: whether requests must be signed (``make run`` takes any)."""
    submit_responses = {
        "202": {
            "description": "The job is QUEUED and its message is in SQS.",
            "headers": {**_CORRELATION, "Location": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
        },
        "400": _problem("Malformed JSON, wrong fields or types, a bad header, non-finite numbers."),
        "409": _problem("A request with this Idempotency-Key is still in progress.", retry_after=True),
        "413": _problem("The body, or the message it would become, is too large."),
        "415": _problem("The body is not JSON, or is compressed."),
        "422": _problem("This Idempotency-Key was used with another body."),
        "500": _problem("A permanent failure, or a state that could not be settled (see retryable)."),
        "503": _problem(
            "The queue (queue-unavailable) or the job store (store-unavailable) was unavailable; "
            "the job is not queued and it is safe to retry.",
            retry_after=True,
        ),
        **_GATEWAY,
    }
    status_responses = {
        "200": {
            "description": "The job, as stored.",
            "headers": _CORRELATION,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}},
        },
        "400": _problem("A malformed X-Correlation-Id."),
        "404": _problem("No job of this caller has that id."),
        "500": _problem("The job store failed."),
        "503": _problem("The job store is unavailable; retry.", retry_after=True),
        **_GATEWAY,
    }
    correlation = {"name": "X-Correlation-Id", "in": "header", "required": False, "schema": TOKEN}
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Job intake",
            "version": "1",
            "description": "Submit jobs and read them back. Every request is signed with SigV4 (service "
            "execute-api); a caller sees only its own jobs and Idempotency-Keys.",
        },
        "paths": {
            "/jobs": {
                "post": {
                    "operationId": "submitJob",
                    "summary": "Record a job and queue it",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "The same key and body give the same job and replay its first answer.",
                            "schema": TOKEN,
                        },
                        correlation,
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}}},
                    },
                    "responses": submit_responses,
                }
            },
            "/jobs/{job_id}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "Read a job",
                    "parameters": [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 256},
                        },
                        correlation,
                    ],
                    "responses": status_responses,
                }
            },
        },
        "components": {
            "schemas": {"JobRequest": JOB_REQUEST, "Accepted": ACCEPTED, "Job": JOB_VIEW, "Problem": PROBLEM},
            "headers": {
                "CorrelationId": {"description": "The request's correlation id.", "schema": {"type": "string"}},
                "RetryAfter": {"description": "Seconds to wait.", "schema": {"type": "string", "pattern": "^[0-9]+$"}},
            },
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        },
        "security": [{"sigv4": []}] if signed else [],
    }
    if server is not None:
        spec["servers"] = [{"url": server}]
    return spec
