"""Counters written as CloudWatch Embedded Metric Format, one line a flush
(and one more for each job type counted).

CloudWatch Logs turns the lines into metrics; nothing is called at run
time. A count given a job type is written with two dimension sets,
``service`` and ``service, job_type``: one record gives the service's total
(what the alarms watch) and the job type's share of it (the dashboard's).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any, TextIO

NAMESPACE = "JobIntake"


class EmfMetrics:
    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self._service = service
        self._stream = stream
        self._counts: Counter[str] = Counter()
        self._by_type: dict[str, Counter[str]] = {}

    def count(self, name: str, value: int = 1, *, job_type: str | None = None) -> None:
        if job_type is None:
            self._counts[name] += value
        else:
            self._by_type.setdefault(job_type, Counter())[name] += value

    def flush(self) -> None:
        """Write what was counted since the last flush, if anything."""
        counts, self._counts = self._counts, Counter()
        by_type, self._by_type = self._by_type, {}
        lines = []
        if counts:
            lines.append(self._record(counts, [["service"]], {}))
        for job_type, typed in sorted(by_type.items()):
            lines.append(self._record(typed, [["service"], ["service", "job_type"]], {"job_type": job_type}))
        if not lines:
            return
        stream = self._stream or sys.stdout
        stream.write("".join(json.dumps(line) + "\n" for line in lines))
        stream.flush()

    def _record(self, counts: Counter[str], dimensions: list[list[str]], values: dict[str, str]) -> dict[str, Any]:
        return {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": dimensions,
                        "Metrics": [{"Name": name, "Unit": "Count"} for name in sorted(counts)],
                    }
                ],
            },
            "service": self._service,
            **values,
            **counts,
        }
