"""A stand-in for the Lambda context object outside Lambda."""

from __future__ import annotations

import time


class LocalContext:
    """Counts down from ``timeout_ms`` like a Lambda invocation's context."""

    def __init__(self, timeout_ms: int, request_id: str = "local") -> None:
        self._ends_at = time.monotonic() + timeout_ms / 1000
        self.aws_request_id = request_id
        self.function_name = "job-intake-local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends_at - time.monotonic()) * 1000))
