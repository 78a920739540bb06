"""Schedules explored per scenario, printed at the end of the run (see
``tests/conftest.py``)."""

from __future__ import annotations

from tests.simulation.explorer import Report

FIGURES: dict[str, Report] = {}
