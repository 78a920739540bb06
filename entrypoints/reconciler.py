"""Lambda handler: the reconciler, on an EventBridge schedule."""

from __future__ import annotations

from typing import Any

from entrypoints.containers import cold_start


def handler(event: Any, context: Any) -> dict[str, int]:
    return cold_start().scheduled_reconciler()(event, context)
