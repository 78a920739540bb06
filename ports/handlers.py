"""Job handlers: the work a deployment runs, one handler per job type.

A handler is a function of the job's payload and a ``JobContext``; what it
returns (any JSON value) is the job's result. Raising says what a retry can
do: ``PermanentJobError`` fails the job at once; ``RetryableJobError`` (and
any other exception, which may be a passing fault) is retried with
exponential backoff up to the deployment's ``JOB_MAX_ATTEMPTS``, then the
job fails.

    from ports.handlers import HandlerRegistry, JobContext, PermanentJobError

    registry = HandlerRegistry()

    @registry.handler("resize")
    def resize(payload: dict, context: JobContext) -> dict:
        if payload["width"] <= 0:
            raise PermanentJobError("width must be positive")
        context.logger.info("resizing", extra={"width": payload["width"]})
        return {"url": make_thumbnail(payload)}

A job's owner may cancel it while it runs: ``context.cancel_requested()``
says so (one read of the job), and a handler that stops raises
``JobCancelled`` (the job ends CANCELLED). A handler that ignores the
request ends the job as it would have; one that fails is not retried.

``JOB_HANDLERS=package.module:registry`` names the registry a deployment
runs. A handler runs at least once per accepted job: ``context.attempt``
says which attempt this is (1 on the first), and a later attempt starts
only after the earlier one's invocation has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

from ports.runtime import Clock


@attrs.frozen
class JobContext:
    """What a handler knows of the job it runs."""

    job_id: str
    job_type: str
    owner: str
    correlation_id: str
    # 1 on the first attempt; each retry, and each takeover of a worker
    # that died, counts one more.
    attempt: int
    max_attempts: int
    # The handler must be done by then: after it the invocation keeps only
    # what it needs to store the result, and Lambda ends it at its timeout.
    deadline: datetime
    # Results bigger than this (as compact JSON, in bytes) are refused and
    # the job fails: store big outputs elsewhere (S3) and return a reference.
    max_result_bytes: int
    # Every record names the job, its type and the attempt.
    logger: logging.LoggerAdapter[logging.Logger]
    clock: Clock = attrs.field(repr=False)
    # Asks the job store whether the job's owner cancelled it.
    cancel_check: Callable[[], bool] = attrs.field(default=lambda: False, repr=False)

    def time_left(self) -> timedelta:
        """How long the handler may still run."""
        return max(self.deadline - self.clock.now(), timedelta(0))

    def cancel_requested(self) -> bool:
        """Whether the job's owner asked it to stop: one strongly consistent
        read of the job, so ask between units of work, not in a tight loop.
        False when the store cannot answer (the next ask may)."""
        return self.cancel_check()


JobHandler = Callable[[dict[str, Any], JobContext], Any]


class JobError(Exception):
    """A handler's failure, saying whether a retry can help."""

    retryable = True

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or type(self).__name__


class RetryableJobError(JobError):
    """A retry may help (a dependency was down, a lock was held)."""


class PermanentJobError(JobError):
    """No retry can help (the payload is wrong): the job fails at once."""

    retryable = False


class JobCancelled(JobError):
    """The handler stopped because its job was cancelled: the job ends
    CANCELLED, not FAILED."""

    retryable = False

    def __init__(self, message: str = "the handler stopped on its owner's cancel") -> None:
        super().__init__(message)


@runtime_checkable
class Handlers(Protocol):
    """What the worker asks of a deployment's handlers."""

    def handler_for(self, job_type: str) -> JobHandler | None:
        """The handler of ``job_type``; None if no handler knows it."""

    def knows(self, job_type: str) -> bool:
        """Whether a handler knows ``job_type`` (the API's check, when a
        deployment refuses unknown types at intake)."""


class HandlerRegistry:
    """Job types and their handlers; a deployment names one with ``JOB_HANDLERS``."""

    def __init__(self) -> None:
        self._handlers: dict[str, JobHandler] = {}

    def handler(self, job_type: str) -> Callable[[JobHandler], JobHandler]:
        """A decorator registering its function as the handler of ``job_type``."""

        def register(function: JobHandler) -> JobHandler:
            self.add(job_type, function)
            return function

        return register

    def add(self, job_type: str, function: JobHandler) -> None:
        if job_type in self._handlers:
            raise ValueError(f"job type {job_type!r} already has a handler")
        self._handlers[job_type] = function

    def handler_for(self, job_type: str) -> JobHandler | None:
        return self._handlers.get(job_type)

    def knows(self, job_type: str) -> bool:
        return job_type in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handlers))


class AnyType:
    """The handlers of a deployment that names none (no ``JOB_HANDLERS``):
    every job succeeds at once, with no result."""

    def handler_for(self, job_type: str) -> JobHandler | None:
        return _nothing

    def knows(self, job_type: str) -> bool:
        return True


def _nothing(payload: dict[str, Any], context: JobContext) -> None:
    return None
