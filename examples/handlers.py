"""Example job handlers: what ``make run`` runs (``JOB_HANDLERS=examples.handlers:registry``).

- ``echo`` returns its payload as the job's result;
- ``flaky`` fails its first attempt (a retry helps) and succeeds on the next;
- ``doomed`` fails for good at once (no retry can help);
- ``outage`` fails for good the first time this worker sees a job (a
  downstream outage), and succeeds once the job is re-run
  (``POST /jobs/{job_id}/retry``);
- ``wait`` sleeps ``seconds`` (at most the time the handler has left), to
  watch a job in PROCESSING; it looks once a second whether its owner
  cancelled it, and stops if so (the job ends CANCELLED).
"""

from __future__ import annotations

import time
from typing import Any

from ports.handlers import HandlerRegistry, JobCancelled, JobContext, PermanentJobError, RetryableJobError

registry = HandlerRegistry()


@registry.handler("echo")
def echo(payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    return payload


@registry.handler("flaky")
def flaky(payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    if context.attempt == 1:
        raise RetryableJobError("the first attempt always fails; the next one succeeds")
    context.logger.info("succeeded after a retry")
    return {"succeeded_on_attempt": context.attempt}


@registry.handler("doomed")
def doomed(payload: dict[str, Any], context: JobContext) -> None:
    raise PermanentJobError("this job can never succeed", code="Doomed")


# The jobs ``outage`` has failed, in this worker process.
_outage_seen: set[str] = set()


@registry.handler("outage")
def outage(payload: dict[str, Any], context: JobContext) -> dict[str, int]:
    if context.job_id not in _outage_seen:
        _outage_seen.add(context.job_id)
        raise PermanentJobError("the downstream service is down; re-run the job once it is back", code="Outage")
    return {"recovered_on_rerun": 1}


@registry.handler("wait")
def wait(payload: dict[str, Any], context: JobContext) -> dict[str, float]:
    seconds = payload.get("seconds", 1)
    if not isinstance(seconds, int | float) or seconds < 0:
        raise PermanentJobError("seconds must be a non-negative number", code="BadPayload")
    until = time.monotonic() + min(float(seconds), context.time_left().total_seconds())
    started = time.monotonic()
    while (left := until - time.monotonic()) > 0:
        # Each look is a read of the job: once a second, not in a tight loop.
        time.sleep(min(left, 1.0))
        if context.cancel_requested():
            context.logger.info("stopping: the job was cancelled")
            raise JobCancelled()
    return {"slept": round(time.monotonic() - started, 3)}
