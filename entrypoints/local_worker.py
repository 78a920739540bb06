"""The worker and the reconciler on this machine, as AWS runs them.

``make run`` polls the local queue and hands each batch to the same
``SqsBatchWorker`` the worker Lambda runs, as the SQS event source mapping
would: the records it reports failed stay in the queue (a retry's come back
when its visibility ends, a backoff from now), the rest are deleted. Every
``reconcile_every_s`` the reconciler runs, as the schedule would.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from entrypoints.sqs_events import sqs_event

log = logging.getLogger("jobs.local")


class LocalWorker(threading.Thread):
    def __init__(
        self,
        container: Container,
        *,
        region: str,
        worker_timeout_ms: int = 30_000,
        reconcile_every_s: float = 30.0,
    ) -> None:
        super().__init__(name="local-worker", daemon=True)
        self._container = container
        self._region = region
        self._worker_timeout_ms = worker_timeout_ms
        self._reconcile_every_s = reconcile_every_s
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        settings = self._container.settings()
        sqs = self._container.ports.sqs_client()
        worker = self._container.batch_worker()
        reconciler = self._container.scheduled_reconciler()
        next_reconcile = time.monotonic() + self._reconcile_every_s
        while not self._stopping.is_set():
            try:
                self.poll(sqs, settings.queue_url, worker)
                if time.monotonic() >= next_reconcile:
                    reconciler({"id": f"local-{uuid.uuid4()}"}, LocalContext(60_000))
                    next_reconcile = time.monotonic() + self._reconcile_every_s
            except Exception:
                # As a Lambda's failure would be: logged, and the next poll goes on.
                log.exception("local worker poll failed")
                self._stopping.wait(1)

    def poll(self, sqs: Any, queue_url: str, worker: Any) -> int:
        """One receive, one batch; how many messages it held."""
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        result = worker(sqs_event(messages, queue_url, self._region), LocalContext(self._worker_timeout_ms))
        failed = {failure["itemIdentifier"] for failure in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)
