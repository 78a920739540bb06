"""Example job handlers: what ``make run`` runs (``JOB_HANDLERS=examples.handlers:registry``).

- ``echo`` returns its payload as the job's result;
- ``flaky`` fails its first attempt (a retry helps) and succeeds on the next;
- ``doomed`` fails for good at once (no retry can help);
- ``wait`` sleeps ``seconds`` (at most the time the handler has left), to
  watch a job in PROCESSING.
"""

from __future__ import annotations

import time
from typing import Any

from ports.handlers import HandlerRegistry, JobContext, PermanentJobError, RetryableJobError

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


@registry.handler("wait")
def wait(payload: dict[str, Any], context: JobContext) -> dict[str, float]:
    seconds = payload.get("seconds", 1)
    if not isinstance(seconds, int | float) or seconds < 0:
        raise PermanentJobError("seconds must be a non-negative number", code="BadPayload")
    slept = min(float(seconds), context.time_left().total_seconds())
    time.sleep(slept)
    return {"slept": slept}
