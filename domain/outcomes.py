"""What a submission ended in. The entrypoint maps each to an HTTP answer.

``replayed``: the answer repeats what an earlier request for the same
Idempotency-Key was told, from the stored job; this request met nothing.
"""

from __future__ import annotations

import attrs

from domain.failures import LastError


@attrs.frozen
class Accepted:
    """QUEUED with a live message, or already taken by a worker (202)."""

    job_id: str
    replayed: bool = False


@attrs.frozen
class InFlight:
    """Another invocation is driving this Idempotency-Key, or the job, right
    now (409): the same request may succeed in a moment. ``why`` says what
    is moving when it is not a same-key request."""

    job_id: str
    why: str | None = None


@attrs.frozen
class KeyReused:
    """The Idempotency-Key was first used with another body (422)."""

    job_id: str


@attrs.frozen
class Unavailable:
    """Transient failure of the queue or the job store (``error.service``);
    the job is PENDING, or was never recorded (then ``job_id`` is None), and
    no live message exists (503)."""

    job_id: str | None
    error: LastError
    retry_after_s: int


@attrs.frozen
class Failed:
    """Permanent failure (500): the job is PENDING with ``last_error``, or
    was never recorded (then ``job_id`` is None); retrying will not help
    until the cause is fixed."""

    job_id: str | None
    error: LastError
    replayed: bool = False


@attrs.frozen
class Unsettled:
    """A state this request could not settle (500): the reconciler, or the
    next request with the same key, settles it; repeating the request
    learns the outcome."""

    job_id: str | None
    error: LastError


@attrs.frozen
class ContentRejected:
    """SQS refused the content our own checks let through (400 or 413)."""

    job_id: str | None
    error: LastError
    too_large: bool
    replayed: bool = False


@attrs.frozen
class NotFound:
    """No job of the caller's has that id (404): another caller's job is
    answered the same."""

    job_id: str


@attrs.frozen
class WrongState:
    """The job's state does not allow what was asked (409): a final job is
    not cancelled, only a job whose last episode ended without a result is
    re-run. ``why`` says what would."""

    job_id: str
    status: str
    why: str


Outcome = Accepted | InFlight | KeyReused | Unavailable | Failed | Unsettled | ContentRejected | WrongState
# What a re-run may end in besides a submission's outcomes.
RerunOutcome = Outcome | NotFound
