"""Figures gathered by the stateful consistency test, printed at the end of
the run (see ``tests/conftest.py``)."""

from __future__ import annotations

from collections import Counter

STATS: Counter[str] = Counter()
