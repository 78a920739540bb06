"""Every row of the brief's classification table, injected at botocore's
before-send so botocore parses each answer as it would a real one."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

from adapters.dynamodb_repository import STORE_ERRORS
from adapters.eventbridge_bus import EVENT_ERRORS
from adapters.sqs_publisher import SEND_ERRORS
from chaos.faults import (
    AwsError,
    Fault,
    FaultInjector,
    Raise,
    connection_closed,
    never_connected,
    read_timeout,
)
from domain.failures import FailureKind
from domain.job import Job
from entrypoints.containers import Container
from ports.events import CompletionEvent, EventPutFailed
from ports.publisher import OutgoingMessage, SendFailed
from ports.repository import StoreFailed
from tests.fakes import EPOCH

NOT_SENT, THROTTLED, AMBIGUOUS, PERMANENT, CONTENT = (
    FailureKind.NOT_SENT,
    FailureKind.THROTTLED,
    FailureKind.AMBIGUOUS,
    FailureKind.PERMANENT,
    FailureKind.CLIENT_CONTENT,
)

SEND_CASES: list[tuple[str, Fault, FailureKind, str]] = [
    ("could not connect", Raise(never_connected), NOT_SENT, "EndpointConnectionError"),
    ("read timeout", Raise(read_timeout), AMBIGUOUS, "ReadTimeoutError"),
    ("closed after sending", Raise(connection_closed), AMBIGUOUS, "ConnectionClosedError"),
    ("throttled", AwsError(400, "RequestThrottled", "RequestThrottled"), THROTTLED, "RequestThrottled"),
    ("kms throttled", AwsError(400, "KmsThrottled", "KMS.ThrottlingException"), THROTTLED, "KMS.ThrottlingException"),
    ("json throttling", AwsError(400, "ThrottlingException"), THROTTLED, "ThrottlingException"),
    ("internal error", AwsError(500, "InternalError", "InternalError"), AMBIGUOUS, "InternalError"),
    ("unavailable", AwsError(503, "ServiceUnavailable", "ServiceUnavailable"), AMBIGUOUS, "ServiceUnavailable"),
    ("bare 502", AwsError(502, "BadGateway"), AMBIGUOUS, "BadGateway"),
    (
        "queue missing (legacy and short code)",
        AwsError(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"),
        PERMANENT,
        "AWS.SimpleQueueService.NonExistentQueue",
    ),
    ("queue missing (short code only)", AwsError(400, "QueueDoesNotExist"), PERMANENT, "QueueDoesNotExist"),
    ("access denied", AwsError(403, "AccessDenied", "AccessDenied"), PERMANENT, "AccessDenied"),
    ("invalid security", AwsError(403, "InvalidSecurity", "InvalidSecurity"), PERMANENT, "InvalidSecurity"),
    ("kms disabled", AwsError(400, "KmsDisabled", "KMS.DisabledException"), PERMANENT, "KMS.DisabledException"),
    (
        "kms access",
        AwsError(400, "KmsAccessDenied", "KMS.AccessDeniedException"),
        PERMANENT,
        "KMS.AccessDeniedException",
    ),
    (
        "deleted recently",
        AwsError(400, "QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently"),
        PERMANENT,
        "AWS.SimpleQueueService.QueueDeletedRecently",
    ),
    (
        "unsupported",
        AwsError(400, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation"),
        PERMANENT,
        "AWS.SimpleQueueService.UnsupportedOperation",
    ),
    ("invalid address", AwsError(404, "InvalidAddress", "InvalidAddress"), PERMANENT, "InvalidAddress"),
    (
        "bad contents",
        AwsError(400, "InvalidMessageContents", "InvalidMessageContents"),
        CONTENT,
        "InvalidMessageContents",
    ),
    ("unknown 4xx", AwsError(400, "SomethingNew"), PERMANENT, "SomethingNew"),
]

MESSAGE = OutgoingMessage(job_id="j", enqueue_id="e", body="{}", correlation_id="c")


@pytest.mark.parametrize(("fault", "kind", "code"), [c[1:] for c in SEND_CASES], ids=[c[0] for c in SEND_CASES])
def test_each_send_failure_is_classified_and_attempted_once(
    container: Container, faults: FaultInjector, fault: Fault, kind: FailureKind, code: str
) -> None:
    faults.add("SendMessage", fault)

    with pytest.raises(SendFailed) as caught:
        container.ports.publisher().publish(MESSAGE)

    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert faults.calls["SendMessage"] == 1  # botocore retried nothing
    if isinstance(fault, AwsError):
        assert caught.value.http_status == fault.status
        assert caught.value.request_id == "injected-request-id"


@pytest.mark.parametrize(
    ("body_bytes", "code"), [(300_000, "MessageTooLong"), (2_000, "MessageTooLong"), (10, "InvalidParameterValue")]
)
def test_a_message_refused_for_its_size_is_named_from_the_code_and_the_size_sent_not_the_wording(
    container: Container, faults: FaultInjector, body_bytes: int, code: str
) -> None:
    # The wording says nothing about size: only the code and what was sent do.
    faults.add("SendMessage", AwsError(400, "InvalidParameterValue", "InvalidParameterValue", "Reason: unspecified."))
    message = attrs.evolve(MESSAGE, body="x" * body_bytes)

    with pytest.raises(SendFailed) as caught:
        container.ports.publisher().publish(message)

    assert (caught.value.kind, caught.value.code) == (CONTENT, code)


STORE_CASES: list[tuple[str, Fault, FailureKind]] = [
    ("provisioned throughput", AwsError(400, "ProvisionedThroughputExceededException"), THROTTLED),
    ("throttling", AwsError(400, "ThrottlingException"), THROTTLED),
    ("internal", AwsError(500, "InternalServerError"), AMBIGUOUS),
    ("read timeout", Raise(read_timeout), AMBIGUOUS),
    ("never connected", Raise(never_connected), NOT_SENT),
    ("table missing", AwsError(400, "ResourceNotFoundException"), PERMANENT),
    ("access denied", AwsError(400, "AccessDeniedException"), PERMANENT),
]


@pytest.mark.parametrize(("fault", "kind"), [c[1:] for c in STORE_CASES], ids=[c[0] for c in STORE_CASES])
def test_each_store_failure_is_classified_and_attempted_once(
    container: Container, faults: FaultInjector, fault: Fault, kind: FailureKind
) -> None:
    faults.add("PutItem", fault)
    job = Job.submitted(
        job_id="j", job_type="t", request_hash="h", correlation_id="c", owner="owner-1", idempotency_key=None, at=EPOCH
    )

    with pytest.raises(StoreFailed) as caught:
        container.ports.jobs().create(job)

    assert caught.value.kind is kind
    assert faults.calls["PutItem"] == 1


# What each code means, written down from the services' documentation and
# not from the adapters' tables: a code the adapter classifies otherwise (an
# account-level throttle taken for a configuration error) fails here.
T, A, P, C = THROTTLED, AMBIGUOUS, PERMANENT, CONTENT
AWS_SAYS: dict[str, dict[str, FailureKind]] = {
    "SendMessage": {
        "RequestThrottled": T,
        "ThrottlingException": T,
        "KmsThrottled": T,
        "KMS.ThrottlingException": T,
        "InternalError": A,
        "InternalFailure": A,
        "ServiceUnavailable": A,
        "AWS.SimpleQueueService.NonExistentQueue": P,
        "QueueDoesNotExist": P,
        "AWS.SimpleQueueService.QueueDeletedRecently": P,
        "QueueDeletedRecently": P,
        "AccessDenied": P,
        "AccessDeniedException": P,
        "InvalidSecurity": P,
        "InvalidClientTokenId": P,
        "UnrecognizedClientException": P,
        "AWS.SimpleQueueService.UnsupportedOperation": P,
        "UnsupportedOperation": P,
        "InvalidAddress": P,
        "InvalidMessageContents": C,
        "InvalidParameterValue": C,
        "InvalidParameterValueException": C,
    },
    "PutItem": {
        "ProvisionedThroughputExceededException": T,
        "ThrottlingException": T,
        "RequestLimitExceeded": T,  # the account's throughput limit: it passes
        "TransactionConflictException": T,
        # A guarded create's transaction cancelled, for anything but a taken
        # id (which is AlreadyExists): a conflicting transaction, a throttle.
        # A cancelled transaction writes nothing, so it may be retried.
        "TransactionCanceledException": T,
        "InternalServerError": A,
        "ServiceUnavailable": A,
        "ResourceNotFoundException": P,
        "AccessDeniedException": P,
        "UnrecognizedClientException": P,
        "ValidationException": P,
        "ItemCollectionSizeLimitExceededException": P,
    },
    "PutEvents": {
        "ThrottlingException": T,
        "InternalException": A,
        "InternalFailure": A,
        "ServiceUnavailable": A,
        "ResourceNotFoundException": P,
        "AccessDeniedException": P,
        "NotAuthorizedForSourceException": P,
        "ValidationException": P,
        "InvalidArgument": P,
        "MalformedDetail": P,
    },
}
# A create guarded by the rotation's other id is a transaction, classified by the same table.
AWS_SAYS["TransactWriteItems"] = AWS_SAYS["PutItem"]
TABLES = {
    "SendMessage": SEND_ERRORS,
    "PutItem": STORE_ERRORS,
    "TransactWriteItems": STORE_ERRORS,
    "PutEvents": EVENT_ERRORS,
}


@pytest.mark.parametrize("operation", sorted(TABLES))
def test_every_code_an_adapter_classifies_is_written_down_here(operation: str) -> None:
    assert set(TABLES[operation]) == set(AWS_SAYS[operation])


def _calls(container: Container) -> dict[str, Callable[[], object]]:
    job = Job.submitted(
        job_id="j", job_type="t", request_hash="h", correlation_id="c", owner="owner-1", idempotency_key=None, at=EPOCH
    )
    event = CompletionEvent("j", "owner-1", "t", "SUCCEEDED", "c", EPOCH, 1)
    return {
        "SendMessage": lambda: container.ports.publisher().publish(MESSAGE),
        "PutItem": lambda: container.ports.jobs().create(job),
        "TransactWriteItems": lambda: container.ports.jobs().create(job, unless_taken="j-other"),
        "PutEvents": lambda: container.ports.bus().put(event),
    }


@pytest.mark.parametrize(
    ("operation", "code", "kind"),
    [(operation, code, kind) for operation, codes in AWS_SAYS.items() for code, kind in codes.items()],
)
def test_each_code_is_classified_as_the_service_means_it(
    container: Container, faults: FaultInjector, operation: str, code: str, kind: FailureKind
) -> None:
    faults.attach(container.ports.events_client())
    # A 5xx for the codes that are one; a code alone must carry the others.
    faults.add(operation, AwsError(500 if kind is AMBIGUOUS else 400, code))

    with pytest.raises((SendFailed, StoreFailed, EventPutFailed)) as caught:
        _calls(container)[operation]()

    assert (caught.value.code, caught.value.kind) == (code, kind)
