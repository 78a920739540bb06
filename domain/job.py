"""The job record and its status state machine.

A job is an immutable value; each transition returns a new one with its
``version`` bumped. Persisting a transition is the repository's business:
it writes the new value on the condition that the stored one is still the
value the transition started from (see ``Expected``).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

import attrs

from domain.failures import LastError


class JobStatus(enum.StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    # Its owner cancelled it; the job's messages are then stale.
    CANCELLED = "CANCELLED"


_ALLOWED = {
    # PENDING -> CANCELLED, QUEUED -> CANCELLED: its owner's cancel.
    JobStatus.PENDING: {JobStatus.QUEUED, JobStatus.CANCELLED},
    # QUEUED -> FAILED: the reconciler, when the message can no longer exist.
    JobStatus.QUEUED: {JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.CANCELLED},
    # PROCESSING -> PROCESSING: a worker takes over an expired claim, or its
    # owner asks it to stop (``cancel_requested``).
    # PROCESSING -> QUEUED: the handler failed and will be retried, when its
    # message comes back (the message stays live: same enqueue_id).
    # PROCESSING -> CANCELLED: the handler stopped on a cancel request.
    JobStatus.PROCESSING: {
        JobStatus.PROCESSING,
        JobStatus.QUEUED,
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    },
    JobStatus.SUCCEEDED: set(),
    # FAILED -> PENDING, CANCELLED -> PENDING: a re-run opens a new episode
    # (``reopened``), stored only once it is QUEUED.
    JobStatus.FAILED: {JobStatus.PENDING},
    JobStatus.CANCELLED: {JobStatus.PENDING},
}

# Statuses that prove a worker received a message of this job (or, for
# FAILED, that the reconciler settled a job no message could reach any more).
TAKEN = frozenset({JobStatus.PROCESSING, JobStatus.SUCCEEDED, JobStatus.FAILED})
FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
# What a re-run starts from: a job whose last episode ended without a result.
RERUNNABLE = frozenset({JobStatus.PENDING, JobStatus.FAILED, JobStatus.CANCELLED})


class Watch(enum.StrEnum):
    """What the reconciler waits for on a job that is neither PENDING nor
    final; each is an index partition ordered by ``Job.watched_since``."""

    # QUEUED, send not confirmed: the producer's invocation may have died.
    CONFIRMATION = "confirmation"
    # QUEUED, send confirmed: a worker should take it while the message lives.
    DELIVERY = "delivery"
    # PROCESSING: the claim's lease ends; then the worker is surely gone.
    COMPLETION = "completion"
    # Final, its completion event not yet known to be on the bus.
    EVENT = "event"


class IllegalTransition(Exception):
    def __init__(self, job: Job, why: str) -> None:
        super().__init__(f"job {job.job_id}: {why}")


@attrs.frozen
class Job:
    job_id: str
    job_type: str
    status: JobStatus
    version: int
    created_at: datetime
    updated_at: datetime
    request_hash: str
    correlation_id: str
    # The caller that submitted it: only they may read it, and their
    # Idempotency-Keys name only their jobs.
    owner: str
    attempts: int = 0
    idempotency_key: str | None = None
    # The fencing token of the current QUEUED episode; kept once a worker
    # takes the job so that a late producer can tell its message was used.
    enqueue_id: str | None = None
    # Present from the move to QUEUED until the send is confirmed: the
    # reconciler's sparse index key. A job without it was answered 202.
    unconfirmed_since: datetime | None = None
    # End of the invocation that owns an unconfirmed QUEUED episode. Until
    # then a second request with the same key is told 409, not let in.
    lease_until: datetime | None = None
    last_error: LastError | None = None
    # When the send was confirmed (QUEUED and accepted): the message cannot
    # outlive this by more than the queue's retention period.
    sent_at: datetime | None = None
    # Unique per claim by a worker, so that a worker retrying an ambiguous
    # claim can tell its own write from another worker's.
    claim_id: str | None = None
    # End of the invocation holding the claim (plus clock skew): after it,
    # the claim may be taken over by a redelivery of the message.
    claim_until: datetime | None = None
    # Claims made in the current episode: the attempt number a handler sees.
    claims: int = 0
    # A SUCCEEDED job's result, as compact JSON.
    result: str | None = None
    # When the job reached its final state, until its completion event is
    # known to be on the bus: the reconciler puts it again after that.
    event_due: datetime | None = None
    # The payload as the message carries it (compact JSON), kept for a
    # re-run; None on jobs stored before payloads were kept.
    payload: str | None = None
    # Its owner asked a PROCESSING job to stop; its handler can see it.
    cancel_requested: bool = False

    @classmethod
    def submitted(
        cls,
        *,
        job_id: str,
        job_type: str,
        request_hash: str,
        correlation_id: str,
        owner: str,
        idempotency_key: str | None,
        at: datetime,
        payload: str | None = None,
    ) -> Job:
        return cls(
            job_id=job_id,
            job_type=job_type,
            status=JobStatus.PENDING,
            version=0,
            created_at=at,
            updated_at=at,
            request_hash=request_hash,
            correlation_id=correlation_id,
            owner=owner,
            idempotency_key=idempotency_key,
            payload=payload,
        )

    @property
    def awaiting_confirmation(self) -> bool:
        return self.status is JobStatus.QUEUED and self.unconfirmed_since is not None

    @property
    def accepted(self) -> bool:
        """True once a client may have been told 202 for this job."""
        return self.status in TAKEN or (self.status is JobStatus.QUEUED and self.unconfirmed_since is None)

    @property
    def settled(self) -> bool:
        """PENDING or final: nothing is in flight, no one will write it unasked."""
        return self.watch is None

    def visible_to(self, caller: str) -> bool:
        return self.owner == caller

    def lease_expired(self, now: datetime) -> bool:
        return self.lease_until is None or self.lease_until <= now

    def claim_expired(self, now: datetime) -> bool:
        return self.claim_until is None or self.claim_until <= now

    @property
    def watch(self) -> Watch | None:
        """What the reconciler watches this job for; None once PENDING, or
        final with its completion event put."""
        if self.status is JobStatus.QUEUED:
            return Watch.CONFIRMATION if self.unconfirmed_since is not None else Watch.DELIVERY
        if self.status is JobStatus.PROCESSING:
            return Watch.COMPLETION
        if self.event_due is not None:
            return Watch.EVENT
        return None

    @property
    def watched_since(self) -> datetime | None:
        """The moment the reconciler's thresholds count from, by watch."""
        match self.watch:
            case Watch.CONFIRMATION:
                return self.unconfirmed_since
            case Watch.DELIVERY:
                return self.sent_at
            case Watch.COMPLETION:
                return self.claim_until
            case Watch.EVENT:
                return self.event_due
        return None

    def queued(self, *, enqueue_id: str, correlation_id: str, at: datetime, lease_until: datetime) -> Job:
        return self._to(
            JobStatus.QUEUED,
            at,
            enqueue_id=enqueue_id,
            correlation_id=correlation_id,
            unconfirmed_since=at,
            lease_until=lease_until,
        )

    def sent(self, *, attempts: int, at: datetime) -> Job:
        """The send is confirmed: the job stays QUEUED, now accepted."""
        if not self.awaiting_confirmation:
            state = "a confirmed QUEUED one" if self.status is JobStatus.QUEUED else self.status.value
            raise IllegalTransition(self, f"only an unconfirmed QUEUED job is confirmed, not {state}")
        return attrs.evolve(
            self,
            version=self.version + 1,
            updated_at=at,
            attempts=self.attempts + attempts,
            unconfirmed_since=None,
            lease_until=None,
            sent_at=at,
        )

    def rolled_back(self, *, error: LastError, attempts: int, at: datetime) -> Job:
        return self._to(
            JobStatus.PENDING,
            at,
            attempts=self.attempts + attempts,
            enqueue_id=None,
            unconfirmed_since=None,
            lease_until=None,
            last_error=error,
        )

    def processing(self, *, claim_id: str, at: datetime, until: datetime) -> Job:
        """Claimed by a worker, or an expired claim taken over. ``sent_at``
        stays: the message's retention counts from its send, whatever
        happens to the job. A claim that beats the producer's confirmation
        dates it from the producer's lease, or the claim if later: the
        producer sends nothing after its lease ends (a duplicate of an
        ambiguous send may still be sent after this claim), so no message of
        the episode is younger, and a retry puts the job back under the
        delivery watch with a time to count from."""
        return self._to(
            JobStatus.PROCESSING,
            at,
            claim_id=claim_id,
            claim_until=until,
            claims=self.claims + 1,
            unconfirmed_since=None,
            lease_until=None,
            sent_at=self.sent_at or max(at, self.lease_until or at),
        )

    def retrying(self, *, error: LastError, at: datetime) -> Job:
        """The handler failed and may succeed later: QUEUED again under the
        same enqueue_id, its message (still in the queue) live, for the
        delivery that comes back after the backoff to claim."""
        return self._to(JobStatus.QUEUED, at, last_error=error, claim_id=None, claim_until=None)

    def succeeded(self, *, at: datetime, result: str | None = None) -> Job:
        return self._to(JobStatus.SUCCEEDED, at, claim_until=None, sent_at=None, result=result, event_due=at)

    def failed(self, *, error: LastError, at: datetime) -> Job:
        return self._to(
            JobStatus.FAILED,
            at,
            last_error=error,
            claim_until=None,
            unconfirmed_since=None,
            lease_until=None,
            sent_at=None,
            event_due=at,
        )

    def cancelled(self, *, at: datetime) -> Job:
        """Its owner's cancel, or its handler stopping on one: final, its
        messages stale, its completion event due."""
        return self._to(
            JobStatus.CANCELLED,
            at,
            claim_until=None,
            unconfirmed_since=None,
            lease_until=None,
            sent_at=None,
            event_due=at,
        )

    def cancel_asked(self, *, at: datetime) -> Job:
        """A PROCESSING job's owner asks it to stop: the claim stays, and its
        handler decides (``JobContext.cancel_requested``)."""
        if self.status is not JobStatus.PROCESSING:
            raise IllegalTransition(self, f"only a PROCESSING job is asked to stop, not {self.status.value}")
        return attrs.evolve(self, version=self.version + 1, updated_at=at, cancel_requested=True)

    def reopened(self, *, at: datetime) -> Job:
        """A re-run: a new episode of a job whose last one ended without a
        result (its event put), PENDING until it is QUEUED again. Its runs
        count from one again; attempts and the last error stay history."""
        if self.event_due is not None:
            raise IllegalTransition(self, "its completion event is not yet on the bus")
        if self.status is JobStatus.PENDING:
            return self
        return self._to(
            JobStatus.PENDING,
            at,
            enqueue_id=None,
            claim_id=None,
            claims=0,
            result=None,
            cancel_requested=False,
        )

    def under(self, job_id: str) -> Job:
        """This job as a request about the job stored under ``job_id``: the
        same key's job, made under the id key's other while it was rotated."""
        return attrs.evolve(self, job_id=job_id)

    def announced(self) -> Job:
        """Its completion event is on the bus: nothing is left to watch."""
        if self.status not in FINAL or self.event_due is None:
            raise IllegalTransition(self, f"only a final job with an event due is announced, not {self.status.value}")
        return attrs.evolve(self, version=self.version + 1, event_due=None)

    def _to(self, target: JobStatus, at: datetime, **changes: Any) -> Job:
        if target not in _ALLOWED[self.status]:
            raise IllegalTransition(self, f"{self.status.value} -> {target.value} is not allowed")
        return attrs.evolve(self, status=target, version=self.version + 1, updated_at=at, **changes)


@attrs.frozen
class Retention:
    """How long a settled job is kept after its last change.

    Past that the job is gone: not readable, and its Idempotency-Key names a
    new job. A job in flight is kept however long it takes, so that nothing
    a worker or the reconciler still has to write can vanish under them.
    """

    period: timedelta

    def expires_at(self, job: Job) -> datetime | None:
        if not job.settled:
            return None
        expiry = job.updated_at + self.period
        # Whole seconds, rounded up, as a TTL attribute holds it: every store
        # agrees on the moment to the microsecond.
        return expiry if not expiry.microsecond else expiry.replace(microsecond=0) + timedelta(seconds=1)

    def expired(self, job: Job, now: datetime) -> bool:
        expiry = self.expires_at(job)
        return expiry is not None and expiry <= now


@attrs.frozen
class Expected:
    """The stored state a conditional write insists on.

    ``version`` alone would fence every write of one job; status and
    enqueue_id are checked as well so that the condition reads as the
    protocol states it ("QUEUED with my enqueue_id") in logs and in the
    DynamoDB console. ``created_at`` tells one job from the next under the
    same id (a key's job expired and made again), whose versions restart.
    """

    job_id: str
    status: JobStatus
    version: int
    enqueue_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, job: Job) -> Expected:
        return cls(job.job_id, job.status, job.version, job.enqueue_id, job.created_at)
