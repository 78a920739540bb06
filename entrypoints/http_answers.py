"""Each outcome of a submission as HTTP says it: the one table the API
answers from, and that the simulation and the property tests judge by."""

from __future__ import annotations

import attrs

from domain.failures import Service
from domain.outcomes import (
    Accepted,
    ContentRejected,
    Failed,
    InFlight,
    KeyReused,
    NotFound,
    RerunOutcome,
    Unavailable,
    Unsettled,
    WrongState,
)


@attrs.frozen
class HttpAnswer:
    """A status, and for every status but 202 its RFC 9457 problem."""

    status: int
    slug: str = ""
    title: str = ""
    detail: str = ""
    retryable: bool = False
    retry_after_s: int | None = None
    # False when the stored state may still change without another request
    # (the reconciler's to settle): the answer promises nothing about it.
    settled: bool = True


def http_answer(outcome: RerunOutcome) -> HttpAnswer:
    match outcome:
        case Accepted():
            return HttpAnswer(202)
        case InFlight(why=why):
            return HttpAnswer(
                409,
                "request-in-flight",
                "Conflict",
                why or "a request with this Idempotency-Key is still in progress",
                retryable=True,
                retry_after_s=1,
            )
        case KeyReused():
            return HttpAnswer(
                422,
                "idempotency-key-reused",
                "Unprocessable content",
                "this Idempotency-Key was used with a different request body",
            )
        case Unavailable(error=error, retry_after_s=retry_after) if error.service is Service.STORE:
            return HttpAnswer(
                503,
                "store-unavailable",
                "Service unavailable",
                f"the job store was unavailable ({error.code}); the job is not queued and it is safe to retry",
                retryable=True,
                retry_after_s=retry_after,
            )
        case Unavailable(error=error, retry_after_s=retry_after):
            return HttpAnswer(
                503,
                "queue-unavailable",
                "Service unavailable",
                f"the job could not be queued ({error.code}); it is not queued and it is safe to retry",
                retryable=True,
                retry_after_s=retry_after,
            )
        case Failed(error=error):
            return HttpAnswer(
                500,
                "enqueue-failed",
                "Internal server error",
                f"the job could not be queued ({error.code}); retrying will not help until the cause is fixed",
            )
        case Unsettled(error=error):
            return HttpAnswer(
                500,
                "state-unsettled",
                "Internal server error",
                f"the job's state could not be settled ({error.code}); repeat the request with the same "
                "Idempotency-Key, or read the job, to learn the outcome",
                retryable=True,
                settled=False,
            )
        case ContentRejected(error=error, too_large=True):
            return HttpAnswer(
                413, "content-rejected", "Content too large", f"the queue refused the job's content ({error.code})"
            )
        case ContentRejected(error=error):
            return HttpAnswer(
                400, "content-rejected", "Bad request", f"the queue refused the job's content ({error.code})"
            )
        case WrongState(status=status, why=why):
            return HttpAnswer(409, "job-state-conflict", "Conflict", f"the job is {status}: {why}")
        case NotFound():
            return HttpAnswer(404, "job-not-found", "Not found", "no job has that id")
    raise AssertionError(f"unmapped outcome {outcome!r}")
