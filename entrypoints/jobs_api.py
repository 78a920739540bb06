"""The jobs HTTP API behind API Gateway (REST, proxy integration, 1.0).

``JobsApi`` takes its collaborators in its constructor, so tests build it on
fakes; the container builds it for the Lambda handler (``entrypoints.api``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from adapters.json_logging import log_context
from domain.enqueue import EnqueueJob
from domain.job import Job
from domain.outcomes import Outcome
from domain.submission import Submission
from entrypoints.api_gateway import JOB, JOBS, BadRequest, CallerScope, HttpRequest, json_response, problem
from entrypoints.http_answers import http_answer
from ports.repository import JobRepository, StoreFailed
from ports.runtime import Clock, Metrics

log = logging.getLogger("jobs.api")

# Job ids are 36 characters; this leaves room and stays far below DynamoDB's key limit.
MAX_JOB_ID_BYTES = 256


class JobsApi:
    def __init__(
        self,
        *,
        enqueue_job: EnqueueJob,
        jobs: JobRepository,
        clock: Clock,
        max_body_bytes: int,
        metrics: Metrics,
        known_type: Callable[[str], bool] | None = None,
        caller_scope: CallerScope = CallerScope.AUTO,
    ) -> None:
        self._enqueue = enqueue_job
        self._jobs = jobs
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._metrics = metrics
        # Set when the deployment refuses types no handler knows, at intake.
        self._known_type = known_type
        self._caller_scope = caller_scope

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        correlation_id = _fallback_correlation_id(event)
        outcome: dict[str, str] = {}
        try:
            request = HttpRequest.from_event(event, self._caller_scope)
            correlation_id = request.correlation_id()
            with log_context(correlation_id=correlation_id):
                response, outcome = self._route(request, correlation_id, context)
        except BadRequest as exc:
            response = problem(
                exc.status,
                exc.slug,
                exc.title,
                exc.detail,
                correlation_id=correlation_id,
                retryable=False,
                headers=exc.headers,
            )
        except Exception:
            log.exception("unhandled error", extra={"correlation_id": correlation_id})
            response = problem(
                500,
                "internal-error",
                "Internal server error",
                "the request failed unexpectedly",
                correlation_id=correlation_id,
                retryable=True,
            )
        finally:
            self._metrics.flush()
        response["headers"]["X-Correlation-Id"] = correlation_id
        log.info(
            "request answered",
            extra={
                "correlation_id": correlation_id,
                "status": response["statusCode"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                **outcome,
            },
        )
        return response

    def _route(self, request: HttpRequest, correlation_id: str, context: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """The answer, and what it adds to the request's log line."""
        if request.caller is None:
            # Nothing authenticated the request (a method left without IAM
            # authorization, an authorizer that named no one): anonymous
            # requests must not become one shared caller.
            raise BadRequest(403, "no-caller", "Forbidden", "no authenticated caller: the request was not signed")
        if request.resource == JOBS:
            if request.method != "POST":
                raise _not_allowed("POST")
            submission = request.submission(request.caller, correlation_id, self._max_body_bytes)
            return self._submit(submission, request.base, context)
        if request.resource == JOB and request.job_id is not None:
            if request.method != "GET":
                raise _not_allowed("GET")
            return self._status(request.job_id, request.caller, correlation_id), {}
        raise BadRequest(404, "not-found", "Not found", f"no resource at {request.path}")

    def _submit(self, submission: Submission, base: str, context: Any) -> tuple[dict[str, Any], dict[str, str]]:
        if self._known_type is not None and not self._known_type(submission.job_type):
            raise BadRequest(
                400, "unknown-job-type", "Bad request", f"no handler knows the job type {submission.job_type!r}"
            )
        deadline = self._clock.now() + timedelta(milliseconds=context.get_remaining_time_in_millis())
        settled = self._enqueue(submission, deadline)
        fields = {"outcome": type(settled).__name__, **({"job_id": settled.job_id} if settled.job_id else {})}
        return _answer(settled, submission.correlation_id, base), fields

    def _status(self, job_id: str, caller: str, correlation_id: str) -> dict[str, Any]:
        try:
            # No job has an id this long, and DynamoDB refuses keys over 2 KB
            # as a ValidationException: it is missing, not a server error.
            job = self._jobs.get(job_id) if len(job_id.encode()) <= MAX_JOB_ID_BYTES else None
        except StoreFailed as exc:
            retryable = exc.kind.retryable
            return problem(
                503 if retryable else 500,
                "store-unavailable",
                "Job store unavailable",
                f"the job could not be read ({exc.code})",
                correlation_id=correlation_id,
                retryable=retryable,
                job_id=job_id,
                headers={"Retry-After": "1"} if retryable else None,
            )
        # Another caller's job is answered exactly as a missing one: the same
        # single read, the same problem.
        if job is None or not job.visible_to(caller):
            return problem(
                404,
                "job-not-found",
                "Not found",
                "no job has that id",
                correlation_id=correlation_id,
                retryable=False,
                job_id=job_id,
            )
        return json_response(200, _job_view(job), {"X-Correlation-Id": correlation_id})


def _answer(outcome: Outcome, correlation_id: str, base: str) -> dict[str, Any]:
    job_id = outcome.job_id
    said = http_answer(outcome)
    if said.status == 202:
        body = {"job_id": job_id, "status": "QUEUED", "correlation_id": correlation_id}
        return json_response(202, body, {"Location": f"{base}/jobs/{job_id}", "X-Correlation-Id": correlation_id})
    return problem(
        said.status,
        said.slug,
        said.title,
        said.detail,
        correlation_id=correlation_id,
        retryable=said.retryable,
        job_id=job_id,
        headers=None if said.retry_after_s is None else {"Retry-After": str(said.retry_after_s)},
    )


def _job_view(job: Job) -> dict[str, Any]:
    view: dict[str, Any] = {
        "job_id": job.job_id,
        "status": job.status.value,
        "type": job.job_type,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "attempts": job.attempts,
        # Runs of the job's handler in this episode (attempts counts sends).
        "processing_attempts": job.claims,
    }
    if job.result is not None:
        view["result"] = json.loads(job.result)
    if job.last_error is not None:
        error = job.last_error
        view["last_error"] = {
            "code": error.code,
            "kind": error.kind.value,
            "message": error.told,
            "at": error.at.isoformat(),
        }
    return view


def _not_allowed(allowed: str) -> BadRequest:
    return BadRequest(405, "method-not-allowed", "Method not allowed", f"use {allowed}", {"Allow": allowed})


def _fallback_correlation_id(event: Any) -> str:
    context = event.get("requestContext") if isinstance(event, dict) else None
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return str(request_id) if request_id else str(uuid.uuid4())
