from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.json_logging import JsonFormatter
from tests.property.stats import STATS
from tests.simulation.figures import FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("schedules explored (every interleaving, up to each scenario's fault bound)")
        terminalreporter.write_line(f"{'schedules':>10} {'steps':>10} {'pruned':>9}  violations  scenario")
        for name, report in FIGURES.items():
            counts = f"{report.executions:>10} {report.steps:>10} {report.pruned:>9}"
            terminalreporter.write_line(f"{counts}  0           {name}")
    if STATS:
        terminalreporter.section("consistency figures (stateful test over the fakes)")
        for name, count in sorted(STATS.items()):
            terminalreporter.write_line(f"{count:>9}  {name}")


class Records(logging.Handler):
    """What one logger wrote, whatever the logging setup of the process
    (the service's JSON setup stops propagation to pytest's handler)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, *fields: str) -> list[tuple[str, str, dict[str, object]]]:
        """(level, message, the given fields it carries) of each record."""
        return [
            (r.levelname, r.getMessage(), {f: getattr(r, f) for f in fields if hasattr(r, f)}) for r in self.records
        ]


@pytest.fixture
def listening() -> Iterator[Callable[[str, logging.Handler], None]]:
    """``listening(logger name, handler)``: the handler hears that logger
    at INFO and above until the test ends."""
    attached: list[tuple[logging.Logger, logging.Handler, int]] = []

    def attach(name: str, handler: logging.Handler) -> None:
        logger = logging.getLogger(name)
        attached.append((logger, handler, logger.level))
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)

    yield attach
    for logger, handler, level in reversed(attached):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def log_of(listening: Callable[[str, logging.Handler], None]) -> Callable[[str], Records]:
    """``log_of("jobs.enqueue")``: the records that logger writes from now
    on, at INFO and above."""

    def attach(name: str) -> Records:
        records = Records()
        listening(name, records)
        return records

    return attach


@pytest.fixture
def json_log_of(listening: Callable[[str, logging.Handler], None]) -> Callable[[str], io.StringIO]:
    """``json_log_of("jobs")``: the lines that logger writes from now on,
    at INFO and above, formatted as in Lambda (the log context included)."""

    def attach(name: str) -> io.StringIO:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        listening(name, handler)
        return stream

    return attach
