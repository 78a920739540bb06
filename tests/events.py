"""API Gateway REST proxy events (payload format 1.0), as the service gets them."""

from __future__ import annotations

import json
from typing import Any

from entrypoints.api_gateway import proxy_event

JSON = {"Content-Type": "application/json"}
ACCOUNT = "123456789012"
# The role a test's requests are signed by unless it names another.
TESTER = "tests-role"


def event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    base64_encoded: bool = False,
    request_id: str = "apigw-request-1",
    caller: str | None = TESTER,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Signed by ``caller``, an IAM principal (a role name or a user ARN),
    as API Gateway reports it after checking SigV4; None: not signed."""
    return proxy_event(
        method,
        path,
        body,
        headers,
        request_id=request_id,
        stage="prod",
        base64_encoded=base64_encoded,
        vouched=None if caller is None else {"identity": iam_identity(caller)},
        query=query,
    )


def iam_identity(caller: str, session: str = "session-1") -> dict[str, Any]:
    """``requestContext.identity`` of a SigV4-signed request: an ARN as is,
    a bare name as a role assumed in the default moto account."""
    arn = caller if caller.startswith("arn:") else f"arn:aws:sts::{ACCOUNT}:assumed-role/{caller}/{session}"
    return {
        "accountId": arn.split(":")[4],
        "caller": f"AROAEXAMPLE:{session}",
        "userArn": arn,
        "user": f"AROAEXAMPLE:{session}",
        "accessKey": "ASIAEXAMPLE",
        "sourceIp": "192.0.2.1",
        "userAgent": "test",
        "cognitoIdentityId": None,
        "apiKey": None,
    }


def submit(
    payload: Any = None,
    job_type: str = "resize",
    headers: dict[str, str] | None = None,
    *,
    caller: str | None = TESTER,
    **more: Any,
) -> dict[str, Any]:
    document = {"type": job_type, "payload": {"size": 3} if payload is None else payload, **more}
    return event("POST", "/jobs", json.dumps(document), {**JSON, **(headers or {})}, caller=caller)


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
