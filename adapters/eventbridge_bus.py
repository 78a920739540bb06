"""``EventBus`` on Amazon EventBridge (boto3): one PutEvents entry a call."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from adapters.aws_errors import classify
from adapters.dynamodb_items import iso
from domain.failures import FailureKind
from ports.events import SOURCE, CompletionEvent, EventPutFailed

# PutEvents error codes, for the call and for its one entry.
EVENT_ERRORS = {
    "ThrottlingException": FailureKind.THROTTLED,
    "InternalException": FailureKind.AMBIGUOUS,
    "InternalFailure": FailureKind.AMBIGUOUS,
    "ServiceUnavailable": FailureKind.AMBIGUOUS,
    "ResourceNotFoundException": FailureKind.PERMANENT,
    "AccessDeniedException": FailureKind.PERMANENT,
    "NotAuthorizedForSourceException": FailureKind.PERMANENT,
    "ValidationException": FailureKind.PERMANENT,
    "InvalidArgument": FailureKind.PERMANENT,
    "MalformedDetail": FailureKind.PERMANENT,
}


class EventBridgeBus:
    def __init__(self, client: Any, bus_name: str | None) -> None:
        self._client = client
        self._bus_name = bus_name

    def put(self, event: CompletionEvent) -> None:
        entry: dict[str, Any] = {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": detail(event),
            "Time": event.finished_at,
        }
        if self._bus_name:
            entry["EventBusName"] = self._bus_name
        try:
            answer = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
            failure = classify(exc, EVENT_ERRORS)
            raise EventPutFailed(
                failure.kind,
                failure.code,
                failure.message,
                http_status=failure.http_status,
                request_id=failure.request_id,
            ) from exc
        if answer.get("FailedEntryCount"):
            # The call went through and the entry did not: its code says why.
            refused = answer["Entries"][0]
            code = refused.get("ErrorCode") or "FailedEntry"
            kind = EVENT_ERRORS.get(code, FailureKind.AMBIGUOUS)
            raise EventPutFailed(
                kind,
                code,
                refused.get("ErrorMessage", ""),
                http_status=200,
                request_id=answer.get("ResponseMetadata", {}).get("RequestId"),
            )


def detail(event: CompletionEvent) -> str:
    """The event's detail, as subscribers read it."""
    document: dict[str, Any] = {
        "job_id": event.job_id,
        "owner": event.owner,
        "type": event.job_type,
        "status": event.status,
        "correlation_id": event.correlation_id,
        "finished_at": iso(event.finished_at),
        "processing_attempts": event.processing_attempts,
    }
    if event.result is not None:
        document["result"] = json.loads(event.result)
    if event.error is not None:
        document["error"] = {"code": event.error.code, "kind": event.error.kind.value, "message": event.error.told}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
