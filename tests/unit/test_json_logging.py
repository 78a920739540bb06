"""The log line's shape: what an operator's CloudWatch Logs Insights query reads."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from adapters.json_logging import JsonFormatter, configure, log_context


@pytest.fixture
def jobs_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("jobs")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    logger.handlers.clear()
    yield logger
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


def test_configure_sends_jobs_lines_as_json_to_stderr_once(jobs_logger: logging.Logger) -> None:
    configure("DEBUG")
    configure("WARNING")

    [handler] = jobs_logger.handlers
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
    assert isinstance(handler.formatter, JsonFormatter)
    assert jobs_logger.level == logging.WARNING
    assert jobs_logger.propagate is False


def test_a_line_holds_the_record_its_fields_and_its_context() -> None:
    record = logging.makeLogRecord(
        {
            "name": "jobs.api",
            "levelname": "WARNING",
            "msg": "job %s rolled back",
            "args": ("j-1",),
            "created": 1_796_000_000.1234,
            "job_id": "j-1",
            "attempt": 2,
        }
    )
    with log_context(correlation_id="c-1", job_id="overridden by the record"):
        line = json.loads(JsonFormatter().format(record))

    assert line == {
        "timestamp": "2026-11-30T00:53:20.123+00:00",
        "level": "WARNING",
        "logger": "jobs.api",
        "message": "job j-1 rolled back",
        "correlation_id": "c-1",
        "job_id": "j-1",
        "attempt": 2,
    }


def test_a_line_carries_its_traceback_and_any_value_as_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info(), "when": object})

    line = json.loads(JsonFormatter().format(record))

    assert line["exception"].startswith("Traceback") and "ValueError: boom" in line["exception"]
    assert line["when"] == str(object)


def test_the_context_ends_with_its_block() -> None:
    with log_context(a=1):
        with log_context(b=2):
            inner = json.loads(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})))
        outer = json.loads(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})))
    after = json.loads(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})))

    assert (inner["a"], inner["b"]) == (1, 2)
    assert outer["a"] == 1 and "b" not in outer
    assert "a" not in after
