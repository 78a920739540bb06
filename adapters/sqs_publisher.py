"""``JobPublisher`` on Amazon SQS (boto3)."""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from adapters.aws_errors import classify
from domain.failures import MESSAGE_TOO_LONG, FailureKind
from domain.submission import sqs_message_size
from ports.publisher import OutgoingMessage, Receipt, SendFailed

# SendMessage error codes, both the legacy query codes and the short names.
SEND_ERRORS = {
    "RequestThrottled": FailureKind.THROTTLED,
    "ThrottlingException": FailureKind.THROTTLED,
    # botocore does not retry KMS throttling; our policy does.
    "KmsThrottled": FailureKind.THROTTLED,
    "KMS.ThrottlingException": FailureKind.THROTTLED,
    "InternalError": FailureKind.AMBIGUOUS,
    "InternalFailure": FailureKind.AMBIGUOUS,
    "ServiceUnavailable": FailureKind.AMBIGUOUS,
    "AWS.SimpleQueueService.NonExistentQueue": FailureKind.PERMANENT,
    "QueueDoesNotExist": FailureKind.PERMANENT,
    "AWS.SimpleQueueService.QueueDeletedRecently": FailureKind.PERMANENT,
    "QueueDeletedRecently": FailureKind.PERMANENT,
    "AccessDenied": FailureKind.PERMANENT,
    "AccessDeniedException": FailureKind.PERMANENT,
    "InvalidSecurity": FailureKind.PERMANENT,
    "InvalidClientTokenId": FailureKind.PERMANENT,
    "UnrecognizedClientException": FailureKind.PERMANENT,
    "AWS.SimpleQueueService.UnsupportedOperation": FailureKind.PERMANENT,
    "UnsupportedOperation": FailureKind.PERMANENT,
    "InvalidAddress": FailureKind.PERMANENT,
    "InvalidMessageContents": FailureKind.CLIENT_CONTENT,
    "InvalidParameterValue": FailureKind.CLIENT_CONTENT,
    "InvalidParameterValueException": FailureKind.CLIENT_CONTENT,
}

# Every other KMS failure (access, disabled or missing key...) needs a fix.
SEND_ERROR_FAMILIES = {"Kms": FailureKind.PERMANENT, "KMS.": FailureKind.PERMANENT}

FIFO_SUFFIX = ".fifo"
# The codes SQS refuses an over-long message with (it has none of its own),
# and the least maximum a queue can be set to: a message this size or
# smaller was not refused for its size.
SIZE_REFUSALS = {"InvalidParameterValue", "InvalidParameterValueException"}
SQS_LEAST_MAXIMUM_BYTES = 1024


def sqs_config(*, connect_timeout_s: float, read_timeout_s: float) -> Config:
    """One attempt per call, bounded in time: every retry is the domain's,
    so that no ambiguous send is hidden from it."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
    )


class SqsJobPublisher:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._fifo = queue_url.endswith(FIFO_SUFFIX)

    def publish(self, message: OutgoingMessage) -> Receipt:
        request: dict[str, Any] = {
            "QueueUrl": self._queue_url,
            "MessageBody": message.body,
            "MessageAttributes": {
                "correlation_id": {"DataType": "String", "StringValue": message.correlation_id},
            },
        }
        if self._fifo:
            # Same enqueue_id, same dedup id: SQS itself drops the copy an
            # ambiguous send's retry makes, within its 5-minute window.
            request["MessageGroupId"] = message.job_id
            request["MessageDeduplicationId"] = message.enqueue_id
        try:
            answer = self._client.send_message(**request)
        except (ClientError, BotoCoreError) as exc:
            failure = classify(exc, SEND_ERRORS, SEND_ERROR_FAMILIES)
            code, said = failure.code, failure.message
            if failure.kind is FailureKind.CLIENT_CONTENT and _too_large(message, failure.code):
                code, said = MESSAGE_TOO_LONG, f"{failure.message} (SQS: {failure.code})"
            raise SendFailed(
                failure.kind,
                code,
                said,
                http_status=failure.http_status,
                request_id=failure.request_id,
            ) from exc
        return Receipt(
            message_id=answer["MessageId"],
            request_id=answer.get("ResponseMetadata", {}).get("RequestId"),
        )


def _too_large(message: OutgoingMessage, code: str) -> bool:
    """Whether SQS refused this message for its size: from the code and the
    size that was sent, not from the wording of SQS's message. The service's
    own bodies hold only characters SQS accepts, so an invalid parameter on
    a message longer than any queue must take is its length."""
    return code in SIZE_REFUSALS and sqs_message_size(message.body, message.correlation_id) > SQS_LEAST_MAXIMUM_BYTES
