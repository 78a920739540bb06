"""The HTTP API as an OpenAPI 3.0 document: the one description of it.

The REST API's request model (``infra/api.py``) is built from ``JOB_REQUEST``
here, and ``make run`` serves ``document()`` at ``GET /openapi.json``; the
handler remains the authority on what it accepts (it also refuses what no
schema says, such as a body whose message would not fit SQS).
"""

from __future__ import annotations

from typing import Any

from domain.job import JobStatus
from domain.nesting import MAX_NESTING
from domain.submission import JOB_TYPE
from entrypoints.api_gateway import PROBLEM_JSON
from entrypoints.jobs_api import DEFAULT_PAGE, MAX_PAGE

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
        "status": {"type": "string", "enum": [status.value for status in JobStatus]},
        "type": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "attempts": {"type": "integer", "minimum": 0, "description": "SendMessage attempts, over every episode."},
        "processing_attempts": {
            "type": "integer",
            "minimum": 0,
            "description": "Runs of the job's handler in this episode (retries and takeovers included).",
        },
        "cancel_requested": {
            "type": "boolean",
            "description": "Present (true) once its owner asked a PROCESSING job to stop.",
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

JOB_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["jobs"],
    "properties": {
        "jobs": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Job"},
            "description": "Newest first; without results (GET the job for its result).",
        },
        "next": {"type": "string", "description": "The next page's path and query; absent on the last page."},
    },
}

# A 409 about the job's state also names it.
STATE_PROBLEM: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {"type": "object", "properties": {"job_status": {"type": "string", "enum": [s.value for s in JobStatus]}}},
    ]
}

_CORRELATION = {"X-Correlation-Id": {"$ref": "#/components/headers/CorrelationId"}}
_RETRY_AFTER = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}


def _problem(description: str, *, retry_after: bool = False, schema: str = "Problem") -> dict[str, Any]:
    return {
        "description": description,
        "headers": {**_CORRELATION, **(_RETRY_AFTER if retry_after else {})},
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
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
        "409": _problem(
            "A request with this Idempotency-Key is still in progress (request-in-flight), or its job was "
            "cancelled (job-state-conflict: POST /jobs/{job_id}/retry runs it again).",
            retry_after=True,
            schema="StateProblem",
        ),
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
    store_failed = {
        "500": _problem("The job store failed."),
        "503": _problem("The job store is unavailable; retry.", retry_after=True),
    }
    list_responses = {
        "200": {
            "description": "A page of the caller's own jobs.",
            "headers": _CORRELATION,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobPage"}}},
        },
        "400": _problem(
            "A bad status or limit, an unknown parameter, or a cursor this API did not make for this caller "
            "and filter (invalid-cursor)."
        ),
        **store_failed,
        **_GATEWAY,
    }
    cancel_responses = {
        "200": {
            "description": "The job is CANCELLED (it was PENDING or QUEUED, or already CANCELLED).",
            "headers": _CORRELATION,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}},
        },
        "202": {
            "description": "The job is PROCESSING and its handler is asked to stop (cancel_requested): it ends "
            "CANCELLED if the handler stops or fails, else as the handler leaves it.",
            "headers": _CORRELATION,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}},
        },
        "400": _problem("A malformed X-Correlation-Id."),
        "404": _problem("No job of this caller has that id."),
        "409": _problem(
            "The job is SUCCEEDED or FAILED (job-state-conflict, with job_status); or the request that "
            "submitted it is still deciding its answer (request-in-flight: retry).",
            retry_after=True,
            schema="StateProblem",
        ),
        "500": _problem("The store failed, or the cancel may or may not have been written (retry)."),
        "503": _problem("The job store is unavailable; nothing was written; retry.", retry_after=True),
        **_GATEWAY,
    }
    retry_responses = {
        **{code: answer for code, answer in submit_responses.items() if code not in ("413", "415", "422")},
        "400": _problem("A malformed X-Correlation-Id; or SQS refused the stored payload (content-rejected)."),
        "413": _problem("SQS refused the stored payload as too large (content-rejected)."),
        "202": {
            "description": "A new episode of the job is QUEUED and its message is in SQS.",
            "headers": {**_CORRELATION, "Location": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
        },
        "404": _problem("No job of this caller has that id."),
        "409": _problem(
            "The job is not FAILED, CANCELLED or PENDING, or was stored before payloads were kept "
            "(job-state-conflict, with job_status); or it is moving right now (request-in-flight: retry).",
            retry_after=True,
            schema="StateProblem",
        ),
    }
    correlation = {"name": "X-Correlation-Id", "in": "header", "required": False, "schema": TOKEN}
    job_id_parameter = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
    }
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
                },
                "get": {
                    "operationId": "listJobs",
                    "summary": "List the caller's jobs, newest first",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": [status.value for status in JobStatus]},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "required": False,
                            "description": "From the previous page's next link, with the same status.",
                            "schema": {"type": "string"},
                        },
                        correlation,
                    ],
                    "responses": list_responses,
                },
            },
            "/jobs/{job_id}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "Read a job",
                    "parameters": [job_id_parameter, correlation],
                    "responses": status_responses,
                }
            },
            "/jobs/{job_id}/cancel": {
                "post": {
                    "operationId": "cancelJob",
                    "summary": "Cancel a job, or ask its running handler to stop",
                    "parameters": [job_id_parameter, correlation],
                    "responses": cancel_responses,
                }
            },
            "/jobs/{job_id}/retry": {
                "post": {
                    "operationId": "retryJob",
                    "summary": "Run a FAILED, CANCELLED or PENDING job again from its stored payload",
                    "parameters": [job_id_parameter, correlation],
                    "responses": retry_responses,
                }
            },
        },
        "components": {
            "schemas": {
                "JobRequest": JOB_REQUEST,
                "Accepted": ACCEPTED,
                "Job": JOB_VIEW,
                "JobPage": JOB_PAGE,
                "Problem": PROBLEM,
                "StateProblem": STATE_PROBLEM,
            },
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
