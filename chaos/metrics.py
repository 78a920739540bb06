"""The metrics port counted in memory, for the chaos run and the tests."""

from __future__ import annotations

from collections import Counter


class CountingMetrics:
    def __init__(self) -> None:
        self.counts = Counter[str]()

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] += value

    def flush(self) -> None:
        """Nothing to write: the counts stay readable."""
