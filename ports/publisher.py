from __future__ import annotations

from typing import Protocol

import attrs

from domain.failures import OutsideFailure, Service


class SendFailed(OutsideFailure):
    """The queue did not confirm a message; ``kind`` says what a retry may do."""

    service = Service.QUEUE


@attrs.frozen
class OutgoingMessage:
    job_id: str
    enqueue_id: str
    body: str
    correlation_id: str


@attrs.frozen
class Receipt:
    message_id: str
    request_id: str | None


class JobPublisher(Protocol):
    """Hands a job's message to the workers' queue.

    Makes exactly one attempt; raises ``SendFailed`` with the failure
    classified. Retrying is the domain's decision.
    """

    def publish(self, message: OutgoingMessage) -> Receipt: ...
