"""What can go wrong talking to the outside, in the domain's own words.

Adapters translate every SDK failure into one of these; nothing above the
adapters ever sees an SDK exception.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import ClassVar

import attrs


class FailureKind(enum.StrEnum):
    # The request never left: retrying cannot duplicate anything.
    NOT_SENT = "not_sent"
    # The service refused for load; retry after a backoff.
    THROTTLED = "throttled"
    # The request may have been applied: a retry may duplicate it, which the
    # fencing token (enqueue_id) or the write's condition makes harmless.
    AMBIGUOUS = "ambiguous"
    # Retrying cannot help until someone changes the configuration.
    PERMANENT = "permanent"
    # The service rejected the content itself.
    CLIENT_CONTENT = "client_content"
    # No attempt could be started before the deadline.
    DEADLINE = "deadline"
    # The job's handler failed, or no worker finished it.
    PROCESSING = "processing"
    # No worker took the job while its message could still be delivered.
    UNDELIVERED = "undelivered"

    @property
    def retryable(self) -> bool:
        return self in (FailureKind.NOT_SENT, FailureKind.THROTTLED, FailureKind.AMBIGUOUS)


class Service(enum.StrEnum):
    """The outside service a failure came from."""

    QUEUE = "queue"
    STORE = "store"
    EVENTS = "events"


# The code a send refused for its size is recorded under, so that a replay
# answers 413 as the first request did.
MESSAGE_TOO_LONG = "MessageTooLong"


@attrs.frozen
class LastError:
    code: str
    kind: FailureKind
    message: str
    at: datetime
    # The outside service that failed; None for the service's own verdicts
    # (an abandoned episode, a failed step, a message that expired).
    service: Service | None = None

    @property
    def too_large(self) -> bool:
        return self.kind is FailureKind.CLIENT_CONTENT and self.code == MESSAGE_TOO_LONG

    @property
    def told(self) -> str:
        """The message a client reads (GET, the completion event). An outside
        service's own wording can name the function's role, the account and
        its resources: a client gets a fixed text for its kind, and the
        wording stays in the logs and the table."""
        if self.service is None:
            return self.message
        said = _TOLD.get(self.kind, "failed")
        return f"the {_SERVICE_NAMES[self.service]} {said}"


_SERVICE_NAMES = {
    Service.QUEUE: "queue (SQS)",
    Service.STORE: "job store (DynamoDB)",
    Service.EVENTS: "event bus (EventBridge)",
}
_TOLD = {
    FailureKind.NOT_SENT: "could not be reached",
    FailureKind.THROTTLED: "refused the request for load",
    FailureKind.AMBIGUOUS: "did not say whether it carried the request out",
    FailureKind.PERMANENT: "refused the request; the deployment needs a fix",
    FailureKind.CLIENT_CONTENT: "refused the job's content",
}


def abandoned(at: datetime, settled_by: str) -> LastError:
    """The error recorded when an episode nobody finished is rolled back.

    AMBIGUOUS because nobody knows whether its message was sent; either way
    the rollback makes any such message stale.
    """
    return LastError(
        "Abandoned", FailureKind.AMBIGUOUS, f"left QUEUED without a confirmed send; settled by {settled_by}", at
    )


class OutsideFailure(Exception):
    """A classified failure of a call to an outside service."""

    service: ClassVar[Service | None] = None

    def __init__(
        self,
        kind: FailureKind,
        code: str,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code} ({kind.value}): {message}")
        self.kind = kind
        self.code = code
        self.message = message
        self.http_status = http_status
        self.request_id = request_id

    def as_last_error(self, at: datetime) -> LastError:
        return LastError(code=self.code, kind=self.kind, message=self.message, at=at, service=self.service)
