"""Faults injected at botocore's ``before-send`` event: scripted, for the
tests, or drawn at random from a mix, for the chaos run.

A fault answers in place of the service, so botocore's own response parsing
and error handling run on it exactly as on a real AWS answer; or it raises
the transport exception botocore would raise; or it lets the request reach
moto and then loses the answer (a send that worked but timed out).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import urllib3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

_http = urllib3.PoolManager()


@attrs.frozen
class AwsError:
    """An error answer as the service would write it (JSON protocol)."""

    status: int
    code: str
    query_code: str | None = None  # SQS's legacy code, sent in x-amzn-query-error
    message: str = "injected"


@attrs.frozen
class Raise:
    """The transport fails; ``delivered`` first lets the request through."""

    make: Callable[[str], BaseException]
    delivered: bool = False


@attrs.frozen
class Pass:
    """This call goes through untouched (to aim at a later one)."""


Fault = AwsError | Raise | Pass


class Crash(BaseException):
    """The invocation is killed mid-flight: not an ``Exception``, so no
    ``except Exception`` in the service or in botocore catches it."""


def crash(url: str) -> BaseException:
    return Crash()


def never_connected(url: str) -> Exception:
    error: Exception = EndpointConnectionError(endpoint_url=url)
    return error


def read_timeout(url: str) -> Exception:
    error: Exception = ReadTimeoutError(endpoint_url=url)
    return error


def connection_closed(url: str) -> Exception:
    error: Exception = ConnectionClosedError(endpoint_url=url)
    return error


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class FaultInjector:
    """Per-operation queues of faults for the clients it is attached to."""

    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self.calls: dict[str, int] = {}

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send", self._before_send)

    def add(self, operation: str, *faults: Fault) -> None:
        """``operation`` is botocore's name, e.g. "SendMessage", "PutItem"."""
        self._faults.setdefault(operation, deque()).extend(faults)

    def clear(self) -> None:
        """Forget the faults not used yet."""
        self._faults.clear()

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        operation = operation_of(request)
        self.calls[operation] = self.calls.get(operation, 0) + 1
        queue = self._faults.get(operation)
        return apply(queue.popleft(), request) if queue else None


def apply(fault: Fault, request: AWSPreparedRequest) -> AWSResponse | None:
    """Answer ``request`` as ``fault`` says (None: let it through)."""
    if isinstance(fault, Pass):
        return None
    if isinstance(fault, Raise):
        if fault.delivered:
            _http.request(request.method, request.url, body=request.body, headers=dict(request.headers))
        raise fault.make(request.url)
    headers = {}
    if fault.query_code:
        headers["x-amzn-query-error"] = f"{fault.query_code};Sender"
    return aws_response(
        request.url, fault.status, {"__type": f"com.amazonaws.injected#{fault.code}", "message": fault.message}, headers
    )


def aws_response(url: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> AWSResponse:
    """An answer in the AWS JSON protocol's wire format, for botocore to parse."""
    all_headers = {
        "x-amzn-RequestId": "injected-request-id",
        "Content-Type": "application/x-amz-json-1.0",
        **(headers or {}),
    }
    return AWSResponse(url, status, all_headers, _Raw(json.dumps(body).encode()))


def operation_of(request: AWSPreparedRequest) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    if isinstance(target, bytes):
        target = target.decode()
    return str(target).rsplit(".", 1)[-1]
