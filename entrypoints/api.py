"""Lambda handler: the jobs HTTP API (API Gateway REST proxy, payload 1.0)."""

from __future__ import annotations

from typing import Any

from entrypoints.containers import cold_start


def handler(event: Any, context: Any) -> dict[str, Any]:
    return cold_start().jobs_api()(event, context)
