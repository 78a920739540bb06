"""Translating botocore failures into the domain's failure kinds.

The split that matters is whether the request may have reached the service:
a connection that never opened cannot have delivered anything (NOT_SENT),
while a read timeout or a dropped connection after the request was written
may have (AMBIGUOUS). botocore's own retries are off for these clients, so
every failure arrives here and the domain decides.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)

from domain.failures import FailureKind

NEVER_LEFT = (ConnectTimeoutError, EndpointConnectionError, ProxyConnectionError, SSLError)
MAY_HAVE_ARRIVED = (ReadTimeoutError, ConnectionClosedError)
CONFIGURATION = (NoCredentialsError, PartialCredentialsError)


@attrs.frozen
class Classified:
    """One failure, described for logs and for the domain."""

    kind: FailureKind
    code: str
    message: str
    http_status: int | None
    request_id: str | None


def classify(
    exc: Exception, codes: Mapping[str, FailureKind], prefixes: Mapping[str, FailureKind] | None = None
) -> Classified:
    """Classify ``exc`` using a service's table of error codes.

    ``prefixes`` covers families of codes (``Kms...``) not named one by one.
    A code in neither is AMBIGUOUS when the service answered 5xx (it
    may have done the work) and PERMANENT otherwise.
    """
    if isinstance(exc, ClientError):
        return _classify_client_error(exc, codes, prefixes or {})
    if isinstance(exc, NEVER_LEFT):
        return Classified(FailureKind.NOT_SENT, type(exc).__name__, str(exc), None, None)
    if isinstance(exc, MAY_HAVE_ARRIVED):
        return Classified(FailureKind.AMBIGUOUS, type(exc).__name__, str(exc), None, None)
    if isinstance(exc, CONFIGURATION):
        return Classified(FailureKind.PERMANENT, type(exc).__name__, str(exc), None, None)
    if isinstance(exc, BotoCoreError):
        # Any other transport failure: we cannot prove the request stayed home.
        return Classified(FailureKind.AMBIGUOUS, type(exc).__name__, str(exc), None, None)
    raise TypeError(f"not an AWS SDK failure: {exc!r}") from exc


def _classify_client_error(
    exc: ClientError, codes: Mapping[str, FailureKind], prefixes: Mapping[str, FailureKind]
) -> Classified:
    error = exc.response.get("Error", {})
    metadata = exc.response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode")
    # SQS on the JSON protocol puts the legacy query code in Code and the
    # short name in QueryErrorCode; match either.
    names = [name for name in (error.get("Code"), error.get("QueryErrorCode")) if name]
    code = names[0] if names else str(status)
    kind = next((codes[name] for name in names if name in codes), None)
    if kind is None:
        kind = next((k for name in names for p, k in prefixes.items() if name.startswith(p)), None)
    if kind is None:
        kind = FailureKind.AMBIGUOUS if status is not None and status >= 500 else FailureKind.PERMANENT
    return Classified(kind, code, error.get("Message", ""), status, metadata.get("RequestId"))
