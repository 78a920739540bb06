"""One vocabulary of faults for every test double.

The unit fakes, the simulation's ports and the fakes-versus-moto agreement
test say a fault the same way; each port turns it into what its service
would do: the classified failure the adapter would raise, or a crash of the
invocation, before or after the call was carried out. ``at_botocore`` is
the same fault injected at botocore's ``before-send``, for the real
adapters on moto.
"""

from __future__ import annotations

import enum

import attrs

from chaos.faults import AwsError, Crash, Raise, crash, never_connected, read_timeout
from chaos.faults import Fault as BotocoreFault
from domain.failures import FailureKind, OutsideFailure, Service
from ports.events import EventPutFailed
from ports.publisher import SendFailed
from ports.repository import StoreFailed


class Fault(enum.StrEnum):
    THROTTLED = "throttled"  # refused for load; nothing done
    UNAVAILABLE = "unavailable"  # a 5xx: nothing done, which the caller cannot know
    NOT_SENT = "not-sent"  # never connected; nothing done
    TIMED_OUT = "timed-out"  # no answer in time; nothing done, which the caller cannot know
    LOST = "lost"  # carried out; its answer never arrives (a read timeout)
    PERMANENT = "permanent"  # refused until someone changes the configuration
    CRASH = "crash"  # the invocation dies before the call
    CRASH_AFTER = "crash-after"  # the invocation dies after the call was carried out

    @property
    def carried_out(self) -> bool:
        """Whether the service does what was asked, whatever the caller hears."""
        return self in (Fault.LOST, Fault.CRASH_AFTER)

    def raised(self, service: Service) -> BaseException:
        """What the port's caller sees: the classified failure, or the crash."""
        if self in (Fault.CRASH, Fault.CRASH_AFTER):
            return Crash()
        said = _SAID[(self, service)]
        failure = FAILURES[service]
        return failure(said.kind, said.code, "injected", http_status=said.http_status, request_id="req-injected")

    def at_botocore(self, service: Service) -> BotocoreFault:
        """The same fault as botocore meets it, for the real adapters."""
        if self in (Fault.CRASH, Fault.CRASH_AFTER):
            return Raise(crash, delivered=self.carried_out)
        return _SAID[(self, service)].botocore


FAILURES: dict[Service, type[OutsideFailure]] = {
    Service.QUEUE: SendFailed,
    Service.STORE: StoreFailed,
    Service.EVENTS: EventPutFailed,
}


@attrs.frozen
class _Said:
    """A fault as one service says it, to the adapter and to botocore."""

    kind: FailureKind
    code: str
    http_status: int | None
    botocore: BotocoreFault


_SAID: dict[tuple[Fault, Service], _Said] = {
    (Fault.THROTTLED, Service.QUEUE): _Said(
        FailureKind.THROTTLED, "RequestThrottled", 400, AwsError(400, "RequestThrottled", "RequestThrottled")
    ),
    (Fault.THROTTLED, Service.STORE): _Said(
        FailureKind.THROTTLED,
        "ProvisionedThroughputExceededException",
        400,
        AwsError(400, "ProvisionedThroughputExceededException"),
    ),
    (Fault.UNAVAILABLE, Service.QUEUE): _Said(
        FailureKind.AMBIGUOUS, "ServiceUnavailable", 503, AwsError(503, "ServiceUnavailable", "ServiceUnavailable")
    ),
    (Fault.UNAVAILABLE, Service.STORE): _Said(
        FailureKind.AMBIGUOUS, "InternalServerError", 500, AwsError(500, "InternalServerError")
    ),
    (Fault.PERMANENT, Service.QUEUE): _Said(
        FailureKind.PERMANENT,
        "AWS.SimpleQueueService.NonExistentQueue",
        400,
        AwsError(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"),
    ),
    (Fault.PERMANENT, Service.STORE): _Said(
        FailureKind.PERMANENT, "AccessDeniedException", 400, AwsError(400, "AccessDeniedException")
    ),
    (Fault.THROTTLED, Service.EVENTS): _Said(
        FailureKind.THROTTLED, "ThrottlingException", 400, AwsError(400, "ThrottlingException")
    ),
    (Fault.UNAVAILABLE, Service.EVENTS): _Said(
        FailureKind.AMBIGUOUS, "InternalException", 500, AwsError(500, "InternalException")
    ),
    (Fault.PERMANENT, Service.EVENTS): _Said(
        FailureKind.PERMANENT, "ResourceNotFoundException", 400, AwsError(400, "ResourceNotFoundException")
    ),
    **{
        (fault, service): said
        for service in Service
        for fault, said in {
            Fault.NOT_SENT: _Said(FailureKind.NOT_SENT, "EndpointConnectionError", None, Raise(never_connected)),
            Fault.TIMED_OUT: _Said(FailureKind.AMBIGUOUS, "ReadTimeoutError", None, Raise(read_timeout)),
            Fault.LOST: _Said(FailureKind.AMBIGUOUS, "ReadTimeoutError", None, Raise(read_timeout, delivered=True)),
        }.items()
    },
}
