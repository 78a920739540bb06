"""Counters written as CloudWatch Embedded Metric Format, one line a flush.

CloudWatch Logs turns the line into metrics; nothing is called at run time.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import TextIO

NAMESPACE = "JobIntake"


class EmfMetrics:
    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self._service = service
        self._stream = stream
        self._counts: Counter[str] = Counter()

    def count(self, name: str, value: int = 1) -> None:
        self._counts[name] += value

    def flush(self) -> None:
        """Write what was counted since the last flush, if anything."""
        if not self._counts:
            return
        counts, self._counts = self._counts, Counter()
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": name, "Unit": "Count"} for name in sorted(counts)],
                    }
                ],
            },
            "service": self._service,
            **counts,
        }
        stream = self._stream or sys.stdout
        stream.write(json.dumps(document) + "\n")
        stream.flush()
