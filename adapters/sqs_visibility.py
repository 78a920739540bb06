"""When a received message comes back: its visibility timeout, on SQS."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("jobs.worker")
# SQS counts a message's visibility from its receipt, 12 hours in all, and
# refuses a timeout that would go beyond them. The worker postpones within
# its invocation, which may have taken Lambda's longest run (15 minutes).
MAX_DELAY_S = 12 * 3600 - 15 * 60


class SqsVisibility:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def postpone(self, receipt_handle: str, delay_s: int) -> None:
        """Make the message come back in ``delay_s`` seconds. If SQS refuses,
        it comes back after the queue's own visibility timeout instead,
        sooner or later than the backoff wanted: harmless either way, as the
        job waits QUEUED with this message live."""
        try:
            self._client.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=min(delay_s, MAX_DELAY_S)
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("message not postponed; it comes back after the queue's timeout", extra={"error": str(exc)})
