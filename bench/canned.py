"""Canned AWS answers at botocore's transport: every layer of botocore runs
(serialising, signing, parsing, error handling) except the socket.

Self-contained on purpose (it does not reuse ``chaos.faults``): the cold
start probe imports it into both handlers' processes, so it must import
nothing either handler would not.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.httpsession import URLLib3Session

CALLS: Counter[str] = Counter()
MODE = {"sqs": "ok"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _answer(request: Any) -> AWSResponse:
    target = request.headers.get("X-Amz-Target", b"")
    operation = (target.decode() if isinstance(target, bytes) else str(target)).rsplit(".", 1)[-1]
    CALLS[operation] += 1
    headers = {"x-amzn-RequestId": "canned", "Content-Type": "application/x-amz-json-1.0"}
    if operation == "SendMessage":
        if MODE["sqs"] == "unavailable":
            headers["x-amzn-query-error"] = "ServiceUnavailable;Receiver"
            body = {"__type": "com.amazonaws.sqs#ServiceUnavailable", "message": "canned"}
            return AWSResponse(request.url, 503, headers, _Raw(json.dumps(body).encode()))
        body = {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": "0" * 32}
    elif operation == "GetSecretValue":
        arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:JobIdKey-canned"
        body = {"ARN": arn, "Name": "JobIdKey", "SecretString": "k" * 48, "VersionId": str(uuid.uuid4())}
    else:
        body = {}
    return AWSResponse(request.url, 200, headers, _Raw(json.dumps(body).encode()))


def install() -> None:
    URLLib3Session.send = lambda self, request: _answer(request)
