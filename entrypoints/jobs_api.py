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
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import attrs

from adapters.json_logging import log_context
from domain.cancel import CancelJob, Cancelled, CancelOutcome, CancelRequested
from domain.enqueue import EnqueueJob
from domain.job import JobStatus
from domain.outcomes import NotFound, RerunOutcome, WrongState
from domain.submission import Submission
from entrypoints.api_gateway import (
    JOB,
    JOB_CANCEL,
    JOB_RETRY,
    JOBS,
    BadRequest,
    CallerScope,
    HttpRequest,
    json_response,
    problem,
)
from entrypoints.cursors import BadCursor, Cursors
from entrypoints.http_answers import http_answer
from ports.repository import JobRepository, JobSummary, Position, StoreFailed
from ports.runtime import Clock, Metrics

log = logging.getLogger("jobs.api")

# Job ids are 36 characters; this leaves room and stays far below DynamoDB's key limit.
MAX_JOB_ID_BYTES = 256
# Jobs on one page of GET /jobs: by default, and at most.
DEFAULT_PAGE = 20
MAX_PAGE = 100


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
        cancel_job: CancelJob,
        cursors: Cursors,
    ) -> None:
        self._enqueue = enqueue_job
        self._cancel_job = cancel_job
        self._cursors = cursors
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
            if request.method == "GET":
                return self._list(request, request.caller, correlation_id), {}
            if request.method != "POST":
                raise _not_allowed("GET, POST")
            submission = request.submission(request.caller, correlation_id, self._max_body_bytes)
            return self._submit(submission, request.base, context)
        job_id = request.job_id
        if job_id is not None and request.resource == JOB:
            if request.method != "GET":
                raise _not_allowed("GET")
            return self._status(job_id, request.caller, correlation_id), {}
        if job_id is not None and request.resource in (JOB_CANCEL, JOB_RETRY):
            if request.method != "POST":
                raise _not_allowed("POST")
            if request.resource == JOB_CANCEL:
                return self._cancel(job_id, request.caller, correlation_id, context)
            return self._rerun(job_id, request.caller, correlation_id, request.base, context)
        raise BadRequest(404, "not-found", "Not found", f"no resource at {request.path}")

    def _submit(self, submission: Submission, base: str, context: Any) -> tuple[dict[str, Any], dict[str, str]]:
        if self._known_type is not None and not self._known_type(submission.job_type):
            raise BadRequest(
                400, "unknown-job-type", "Bad request", f"no handler knows the job type {submission.job_type!r}"
            )
        settled = self._enqueue(submission, self._deadline(context))
        fields = {"outcome": type(settled).__name__, **({"job_id": settled.job_id} if settled.job_id else {})}
        return _answer(settled, submission.correlation_id, base), fields

    def _cancel(
        self, job_id: str, caller: str, correlation_id: str, context: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if len(job_id.encode()) > MAX_JOB_ID_BYTES:
            outcome: CancelOutcome = NotFound(job_id)
        else:
            outcome = self._cancel_job(job_id, caller, self._deadline(context))
        fields = {"outcome": type(outcome).__name__, "job_id": job_id}
        headers = {"X-Correlation-Id": correlation_id}
        match outcome:
            case Cancelled(job=job):
                return json_response(200, job_view(JobSummary.of(job)), headers), fields
            case CancelRequested(job=job):
                return json_response(202, job_view(JobSummary.of(job)), headers), fields
        return _answer(outcome, correlation_id, ""), fields

    def _rerun(
        self, job_id: str, caller: str, correlation_id: str, base: str, context: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if len(job_id.encode()) > MAX_JOB_ID_BYTES:
            outcome: RerunOutcome = NotFound(job_id)
        else:
            outcome = self._enqueue.rerun(job_id, caller, correlation_id, self._deadline(context))
        return _answer(outcome, correlation_id, base), {"outcome": type(outcome).__name__, "job_id": job_id}

    def _list(self, request: HttpRequest, caller: str, correlation_id: str) -> dict[str, Any]:
        query = ListQuery.parse(request.query, caller, self._cursors)
        try:
            page = self._jobs.list_owned(caller, query.status, query.limit, query.after)
        except StoreFailed as exc:
            return _store_problem(exc, correlation_id, None)
        body: dict[str, Any] = {"jobs": [job_view(job) for job in page.jobs]}
        if page.next is not None:
            status = query.status.value if query.status else None
            cursor = self._cursors.seal(page.next, caller, status)
            body["next"] = f"{request.base}/jobs?{urlencode(query.next_params(cursor))}"
        return json_response(200, body, {"X-Correlation-Id": correlation_id})

    def _deadline(self, context: Any) -> datetime:
        return self._clock.now() + timedelta(milliseconds=context.get_remaining_time_in_millis())

    def _status(self, job_id: str, caller: str, correlation_id: str) -> dict[str, Any]:
        try:
            # No job has an id this long, and DynamoDB refuses keys over 2 KB
            # as a ValidationException: it is missing, not a server error.
            job = self._jobs.get(job_id) if len(job_id.encode()) <= MAX_JOB_ID_BYTES else None
        except StoreFailed as exc:
            return _store_problem(exc, correlation_id, job_id)
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
        view = job_view(JobSummary.of(job))
        if job.result is not None:
            view["result"] = json.loads(job.result)
        return json_response(200, view, {"X-Correlation-Id": correlation_id})


def _store_problem(exc: StoreFailed, correlation_id: str, job_id: str | None) -> dict[str, Any]:
    retryable = exc.kind.retryable
    return problem(
        503 if retryable else 500,
        "store-unavailable",
        "Job store unavailable",
        f"the {'job' if job_id else 'jobs'} could not be read ({exc.code})",
        correlation_id=correlation_id,
        retryable=retryable,
        job_id=job_id,
        headers={"Retry-After": "1"} if retryable else None,
    )


@attrs.frozen
class ListQuery:
    """``GET /jobs``'s query: ``status``, ``limit`` and ``cursor``."""

    status: JobStatus | None
    limit: int
    after: Position | None

    @classmethod
    def parse(cls, query: dict[str, str], caller: str, cursors: Cursors) -> ListQuery:
        unexpected = sorted(set(query) - {"status", "limit", "cursor"})
        if unexpected:
            raise BadRequest(400, "invalid-query", "Bad request", f"unexpected parameters: {', '.join(unexpected)}")
        status = query.get("status")
        if status is not None and status not in JobStatus.__members__:
            raise BadRequest(
                400, "invalid-query", "Bad request", f"status must be one of {', '.join(JobStatus.__members__)}"
            )
        limit_text = query.get("limit", str(DEFAULT_PAGE))
        digits = limit_text.isascii() and limit_text.isdigit() and len(limit_text) <= len(str(MAX_PAGE))
        if not digits or not 1 <= int(limit_text) <= MAX_PAGE:
            raise BadRequest(400, "invalid-query", "Bad request", f"limit must be a whole number from 1 to {MAX_PAGE}")
        after = None
        if "cursor" in query:
            try:
                after = cursors.open(query["cursor"], caller, status)
            except BadCursor as exc:
                raise BadRequest(400, "invalid-cursor", "Bad request", str(exc)) from None
        return cls(JobStatus(status) if status else None, int(limit_text), after)

    def next_params(self, cursor: str) -> dict[str, str]:
        params = {"limit": str(self.limit), "cursor": cursor}
        return {"status": self.status.value, **params} if self.status else params


def _answer(outcome: RerunOutcome, correlation_id: str, base: str) -> dict[str, Any]:
    job_id = outcome.job_id
    said = http_answer(outcome)
    if said.status == 202:
        body = {"job_id": job_id, "status": "QUEUED", "correlation_id": correlation_id}
        return json_response(202, body, {"Location": f"{base}/jobs/{job_id}", "X-Correlation-Id": correlation_id})
    answered = problem(
        said.status,
        said.slug,
        said.title,
        said.detail,
        correlation_id=correlation_id,
        retryable=said.retryable,
        job_id=job_id,
        headers=None if said.retry_after_s is None else {"Retry-After": str(said.retry_after_s)},
    )
    if isinstance(outcome, WrongState):
        # The state that refused the request, for a client to act on.
        document = json.loads(answered["body"])
        answered["body"] = json.dumps({**document, "job_status": outcome.status})
    return answered


def job_view(job: JobSummary) -> dict[str, Any]:
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
    if job.cancel_requested:
        view["cancel_requested"] = True
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
