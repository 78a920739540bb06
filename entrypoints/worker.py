"""Lambda handler: the reference worker, on the jobs queue."""

from __future__ import annotations

from typing import Any

from entrypoints.containers import cold_start


def handler(event: Any, context: Any) -> dict[str, list[dict[str, str]]]:
    return cold_start().batch_worker()(event, context)
