"""`make run` as a user meets it: a process that serves the API on moto,
answers a POST and a GET, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("TABLE_NAME", "QUEUE_URL")}
    # The server's log, kept so that a failure can show what it was doing.
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.local_server", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert process.stdout is not None
        base = ""
        for line in process.stdout:
            if line.startswith("Jobs API on "):
                base = line.split()[3]
                break
        assert base, "the server never said where it listens"
        yield process, base
        if process.poll() is None:
            process.kill()
            process.wait()
            log.seek(0)
            print(log.read()[-4000:])  # shown by pytest when the test failed


def test_it_accepts_a_job_answers_for_it_and_stops_on_ctrl_c(server: tuple[subprocess.Popen[str], str]) -> None:
    process, base = server
    request = urllib.request.Request(
        f"{base}/jobs",
        data=json.dumps({"type": "resize", "payload": {"width": 640}}).encode(),
        headers={"Content-Type": "application/json", "X-Correlation-Id": "local-1"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202
        assert answer.headers["X-Correlation-Id"] == "local-1"
        job_id = json.load(answer)["job_id"]

    with urllib.request.urlopen(f"{base}/jobs/{job_id}", timeout=10) as answer:
        assert answer.status == 200
        assert json.load(answer)["status"] == "QUEUED"

    process.send_signal(signal.SIGINT)
    # A bound on the wait, not a pause: a server that hangs on shutdown fails.
    assert process.wait(timeout=30) == 0


def test_it_stops_cleanly_on_sigterm(server: tuple[subprocess.Popen[str], str]) -> None:
    process, _ = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_the_local_caller_header_lets_tenancy_be_tried(server: tuple[subprocess.Popen[str], str]) -> None:
    _, base = server

    def post(caller: str | None) -> str:
        headers = {"Content-Type": "application/json", "Idempotency-Key": "order-1"}
        request = urllib.request.Request(
            f"{base}/jobs",
            data=b'{"type": "resize", "payload": {}}',
            headers={**headers, **({"X-Local-Caller": caller} if caller else {})},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
            return str(json.load(answer)["job_id"])

    def status(job_id: str, caller: str | None) -> int:
        request = urllib.request.Request(f"{base}/jobs/{job_id}", headers={"X-Local-Caller": caller} if caller else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    mine, theirs = post(None), post("someone-else")

    assert mine != theirs  # the same key, two callers, two jobs
    assert (status(mine, None), status(mine, "someone-else")) == (200, 404)
    assert (status(theirs, "someone-else"), status(theirs, None)) == (200, 404)
