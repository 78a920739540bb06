"""API Gateway REST proxy events (payload format 1.0), as the service gets them."""

from __future__ import annotations

import base64
import json
from typing import Any

JSON = {"Content-Type": "application/json"}


def event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    base64_encoded: bool = False,
    request_id: str = "apigw-request-1",
) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode()
        base64_encoded = True
    return {
        "resource": "/jobs/{job_id}" if path.startswith("/jobs/") else path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": None,
        "pathParameters": {"job_id": path.rsplit("/", 1)[-1]} if path.startswith("/jobs/") else None,
        "requestContext": {"requestId": request_id, "stage": "prod", "httpMethod": method, "path": path},
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def submit(
    payload: Any = None, job_type: str = "resize", headers: dict[str, str] | None = None, **more: Any
) -> dict[str, Any]:
    document = {"type": job_type, "payload": {"size": 3} if payload is None else payload, **more}
    return event("POST", "/jobs", json.dumps(document), {**JSON, **(headers or {})})


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
