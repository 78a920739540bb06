"""``JobPublisher`` on Amazon SQS (boto3)."""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from adapters.aws_errors import classify
from domain.failures import FailureKind, SendFailed
from ports.publisher import OutgoingMessage, Receipt

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
            code = failure.code
            if failure.kind is FailureKind.CLIENT_CONTENT and "shorter than" in failure.message:
                code = "MessageTooLong"
            raise SendFailed(
                failure.kind,
                code,
                failure.message,
                http_status=failure.http_status,
                request_id=failure.request_id,
            ) from exc
        return Receipt(
            message_id=answer["MessageId"],
            request_id=answer.get("ResponseMetadata", {}).get("RequestId"),
        )
