"""The reference worker's batch handling (SQS event source with
``ReportBatchItemFailures``).

A record is acknowledged only when its job no longer needs the message
(processed, stale, final). The rest are reported as failures and come
again after the visibility timeout: a store that could not answer, a job
another worker holds under a live claim, a body that is not a job message
(after maxReceiveCount it lands in the dead-letter queue for a person), a
job whose handler will be retried (its visibility set to the backoff).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.json_logging import log_context
from domain.work import IncomingMessage, MalformedMessage, RetryLater, WorkResult
from ports.repository import StoreFailed
from ports.runtime import Clock, Metrics

log = logging.getLogger("jobs.worker")


class SqsBatchWorker:
    def __init__(
        self,
        *,
        process: Callable[[IncomingMessage, datetime], WorkResult | RetryLater],
        postpone: Callable[[str, int], None],
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._process = process
        self._postpone = postpone
        self._clock = clock
        self._metrics = metrics

    def __call__(self, event: Any, context: Any) -> dict[str, list[dict[str, str]]]:
        invocation_end = self._clock.now() + timedelta(milliseconds=context.get_remaining_time_in_millis())
        failures: list[str] = []
        try:
            for record in event.get("Records", []):
                message_id = record["messageId"]
                # On a FIFO queue, a failure must hold back the rest of the
                # batch, or SQS would deliver them out of order.
                held_back = bool(failures) and record.get("eventSourceARN", "").endswith(".fifo")
                if held_back or not self._handle(record, invocation_end):
                    failures.append(message_id)
        finally:
            self._metrics.flush()
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    def _handle(self, record: dict[str, Any], invocation_end: datetime) -> bool:
        """Whether the record is done with (True) or should come again."""
        attribute = (record.get("messageAttributes") or {}).get("correlation_id") or {}
        correlation_id = attribute.get("stringValue") or record["messageId"]
        with log_context(correlation_id=correlation_id, message_id=record["messageId"]):
            try:
                message = IncomingMessage.parse(record.get("body", ""))
            except MalformedMessage as exc:
                log.error("not a job message; left for the dead-letter queue", extra={"reason": str(exc)})
                return False
            fields = {"job_id": message.job_id, "enqueue_id": message.enqueue_id}
            try:
                result = self._process(message, invocation_end)
            except StoreFailed as exc:
                log.warning("job store unavailable; message will come again", extra={**fields, "code": exc.code})
                return False
            except Exception:
                # One record's bug must not fail the batch: the others are done.
                log.exception("message not handled; it will come again", extra=fields)
                return False
            if isinstance(result, RetryLater):
                # Reported as failed, it comes back when its visibility ends:
                # the backoff's delay from now.
                self._postpone(record["receiptHandle"], result.delay_s)
                log.info("message handled", extra={**fields, "result": "retry", "delay_s": result.delay_s})
                return False
            log.info("message handled", extra={**fields, "result": result.value})
            return result.acknowledge
