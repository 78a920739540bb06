"""API Gateway REST proxy events (payload format 1.0), as the service gets them."""

from __future__ import annotations

import json
from typing import Any

from entrypoints.api_gateway import proxy_event

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
    return proxy_event(method, path, body, headers, request_id=request_id, stage="prod", base64_encoded=base64_encoded)


def submit(
    payload: Any = None, job_type: str = "resize", headers: dict[str, str] | None = None, **more: Any
) -> dict[str, Any]:
    document = {"type": job_type, "payload": {"size": 3} if payload is None else payload, **more}
    return event("POST", "/jobs", json.dumps(document), {**JSON, **(headers or {})})


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
