"""What a submission ended in. The entrypoint maps each to an HTTP answer."""

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
    """Another invocation is driving this Idempotency-Key right now (409)."""

    job_id: str


@attrs.frozen
class KeyReused:
    """The Idempotency-Key was first used with another body (422)."""

    job_id: str


@attrs.frozen
class Unavailable:
    """Transient failure; the job is PENDING, or was never recorded (then
    ``job_id`` is None), and no live message exists (503)."""

    job_id: str | None
    error: LastError
    retry_after_s: int


@attrs.frozen
class Failed:
    """Permanent failure, or a state this request could not settle (500).

    ``settled`` says whether the job is known to be PENDING with
    ``last_error`` (or was never recorded: then ``job_id`` is None); if not,
    the reconciler or the next request with the same key settles it.
    """

    job_id: str | None
    error: LastError
    settled: bool


@attrs.frozen
class ContentRejected:
    """SQS refused the content our own checks let through (400 or 413)."""

    job_id: str | None
    error: LastError
    too_large: bool


Outcome = Accepted | InFlight | KeyReused | Unavailable | Failed | ContentRejected
