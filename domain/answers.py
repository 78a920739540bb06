"""What a request is told: one rule, "answer true to what is stored".

Every way a request can end asks ``answer``, with what it knows: the job
as stored (as its own write, a read or a failed condition last showed it),
the job it meant to store (its episode), what became of its own write, and
the failure that stopped it, if one did. The producer's steps only gather
these facts; none of them decides an answer.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from domain.failures import FailureKind, LastError, Service
from domain.job import Job, JobStatus
from domain.outcomes import (
    Accepted,
    ContentRejected,
    Failed,
    InFlight,
    KeyReused,
    Outcome,
    Unavailable,
    Unsettled,
    WrongState,
)


class Write(enum.Enum):
    """What became of this request's own write, as far as it can tell."""

    NONE = "none"  # it wrote nothing yet: what is stored is another request's doing
    REFUSED = "refused"  # it did not land: the store failed it, or another actor's write won
    UNKNOWN = "unknown"  # it may have landed, or what is stored could not be read
    LANDED = "landed"  # its episode is stored (a later write of the episode may have failed)


@attrs.frozen
class RetryAfter:
    """What a 503 tells the client to wait: one full backoff ceiling of the
    service that failed."""

    queue_s: int
    store_s: int

    def of(self, error: LastError) -> int:
        return self.store_s if error.service is Service.STORE else self.queue_s


def answer(
    stored: Job | None,
    ours: Job,
    write: Write,
    error: LastError | None,
    *,
    now: datetime,
    retry_after: RetryAfter,
) -> Outcome | None:
    """The outcome that is true of ``stored`` for this request; None only
    when nothing stored answers a request that has written nothing yet, and
    it may start an episode of its own (a re-drive)."""
    job_id = ours.job_id
    if write is Write.UNKNOWN:
        return Unsettled(job_id, error or superseded(now))
    if write is Write.LANDED:
        if stored is not None and stored.enqueue_id == ours.enqueue_id:
            if stored.accepted:
                # Confirmed, or a worker took the message: it is live or in use.
                return Accepted(job_id)
            if stored.status is JobStatus.CANCELLED:
                # A worker took the message (the only way this episode could
                # be cancelled while its producer still writes), then its
                # owner cancelled it: it was accepted.
                return Accepted(job_id)
        if stored is not None and stored.status is JobStatus.PENDING:
            settled_with = error or stored.last_error
            if settled_with is not None:
                return settled_on(job_id, settled_with, retry_after)
        # Still QUEUED as we left it, or moved on to another episode: a
        # state this request cannot vouch for.
        return Unsettled(job_id, error or superseded(now))
    # NONE or REFUSED: what is stored is an earlier or another request's.
    if stored is None:
        if error is not None:
            # Nothing was recorded: no job to name (a GET for it would be 404).
            return settled_on(None, error, retry_after)
        return _go_on(job_id, write)
    if stored.request_hash != ours.request_hash:
        return KeyReused(job_id)
    if stored.accepted:
        return Accepted(job_id, replayed=True)
    if stored.status is JobStatus.CANCELLED:
        # Its owner stopped it: the key does not start it again by itself.
        why = f"the job was cancelled; POST /jobs/{job_id}/retry runs it again"
        return WrongState(job_id, stored.status.value, why)
    if stored.awaiting_confirmation and not stored.lease_expired(now):
        return InFlight(job_id)
    if stored.status is JobStatus.PENDING and stored.last_error is not None:
        # A failure no retry can mend is answered again; the rest re-drive.
        final = _final(job_id, stored.last_error, replayed=True)
        if final is not None:
            return final
    if error is not None:
        # The store failed this request's write: PENDING answers for the
        # failure; an abandoned episode is the reconciler's to settle.
        if stored.status is JobStatus.PENDING:
            return settled_on(job_id, error, retry_after)
        return Unsettled(job_id, error)
    return _go_on(job_id, write)


def _go_on(job_id: str, write: Write) -> Outcome | None:
    """Nothing stored answers the request, and it met no failure."""
    match write:
        case Write.NONE:
            return None  # it may start an episode of its own: a re-drive
        case Write.REFUSED:
            return InFlight(job_id)  # another actor's write won over ours: the client may try again
    # Unreachable: answer() returns for the other writes first.
    raise ValueError(f"{write!r}: only a write that did not land goes on")  # pragma: no mutate


def superseded(at: datetime) -> LastError:
    """Why a request that met no failure of its own cannot vouch for its job."""
    return LastError("Superseded", FailureKind.AMBIGUOUS, "the job was moved by another actor", at)


def settled_on(job_id: str | None, error: LastError, retry_after: RetryAfter) -> Outcome:
    """The answer for a job settled PENDING on ``error`` (or never recorded)."""
    return _final(job_id, error, replayed=False) or Unavailable(job_id, error, retry_after.of(error))


def _final(job_id: str | None, error: LastError, *, replayed: bool) -> Outcome | None:
    """The answer to a failure no retry can mend; None when a retry may."""
    if error.kind is FailureKind.PERMANENT:
        return Failed(job_id, error, replayed=replayed)
    if error.kind is FailureKind.CLIENT_CONTENT:
        return ContentRejected(job_id, error, too_large=error.too_large, replayed=replayed)
    return None
