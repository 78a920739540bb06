"""`make run` as a user meets it: a process that serves the API on moto,
answers a POST and a GET, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO, Any

import pytest

from tests.integration.conftest import local_server


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    with local_server() as running:
        yield running


def submit(base: str, job_type: str, payload: dict[str, Any]) -> str:
    request = urllib.request.Request(
        f"{base}/jobs",
        data=json.dumps({"type": job_type, "payload": payload}).encode(),
        headers={"Content-Type": "application/json", "X-Correlation-Id": "local-1"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202
        assert answer.headers["X-Correlation-Id"] == "local-1"
        return str(json.load(answer)["job_id"])


def settled(base: str, job_id: str, seconds: float = 20) -> dict[str, Any]:
    """The job once its worker is done with it: read again until it is
    final, for at most ``seconds`` (a bound on the wait, not a pause)."""
    give_up = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(f"{base}/jobs/{job_id}", timeout=10) as answer:
            assert answer.status == 200
            job: dict[str, Any] = json.load(answer)
        if job["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > give_up:
            return job
        time.sleep(0.1)


def test_it_runs_a_job_to_its_result_and_stops_on_ctrl_c(server: tuple[subprocess.Popen[str], str]) -> None:
    process, base = server

    job = settled(base, submit(base, "echo", {"width": 640}))

    assert (job["status"], job["result"], job["processing_attempts"]) == ("SUCCEEDED", {"width": 640}, 1)
    process.send_signal(signal.SIGINT)
    # A bound on the wait, not a pause: a server that hangs on shutdown fails.
    assert process.wait(timeout=30) == 0


def test_a_job_that_fails_once_succeeds_on_its_second_attempt_and_a_doomed_one_fails_at_once(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    _, base = server
    flaky, doomed, unknown = (submit(base, kind, {}) for kind in ("flaky", "doomed", "no-such-type"))

    retried, failed, unhandled = settled(base, flaky), settled(base, doomed), settled(base, unknown)

    assert (retried["status"], retried["processing_attempts"], retried["result"]) == (
        "SUCCEEDED",
        2,
        {"succeeded_on_attempt": 2},
    )
    assert (failed["status"], failed["processing_attempts"], failed["last_error"]["code"]) == ("FAILED", 1, "Doomed")
    assert (unhandled["status"], unhandled["last_error"]["code"]) == ("FAILED", "UnknownJobType")


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


def raw(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the status, headers and body that came back."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = http.client.HTTPResponse(connection, method=request.split(b" ", 1)[0].decode())
        answer.begin()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PATCH", "TRACE", "PUT", "DELETE"])
def test_every_method_gets_the_handlers_answer_never_html(
    server: tuple[subprocess.Popen[str], str], method: str
) -> None:
    _, base = server
    status, headers, body = raw(base, f"{method} /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())

    assert status == 405 and headers["allow"] == "GET, POST"
    assert headers["content-type"] == "application/problem+json"
    assert body == b"" if method == "HEAD" else json.loads(body)["status"] == 405


def test_a_chunked_body_is_read_whole(server: tuple[subprocess.Popen[str], str]) -> None:
    _, base = server
    document = b'{"type": "resize", "payload": {"width": 640}}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (document[:10], document[10:])) + b"0\r\n\r\n"
    head = b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"

    status, _, body = raw(base, head + chunks)

    assert status == 202 and json.loads(body)["status"] == "QUEUED"


@pytest.mark.parametrize(
    ("length", "status"),
    [("abc", 400), ("-5", 400), ("\u00b2", 400), (str(11 * 1024 * 1024), 413), ("9" * 19, 413), ("9" * 40, 400)],
)
def test_a_bad_content_length_gets_a_problem_not_a_dropped_connection(
    server: tuple[subprocess.Popen[str], str], length: str, status: int
) -> None:
    _, base = server
    head = f"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"

    answered, headers, body = raw(base, head.encode("latin-1") + b"{}")

    assert answered == status and headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == status


def test_a_compressed_body_is_refused_with_415(server: tuple[subprocess.Popen[str], str]) -> None:
    _, base = server
    compressed = gzip.compress(b'{"type": "resize", "payload": {}}')
    head = (
        "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(compressed)}\r\n\r\n"
    )

    status, headers, _ = raw(base, head.encode() + compressed)

    assert status == 415 and headers["content-type"] == "application/problem+json"


def test_a_malformed_request_line_gets_a_problem(server: tuple[subprocess.Popen[str], str]) -> None:
    _, base = server
    status, headers, body = raw(base, b"GARBAGE\r\n\r\n")

    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == 400


JOB = b'{"type": "resize", "payload": {}}'


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        (b"Transfer-Encoding: chunked\r\n\r\n-2\r\nab\r\n0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked\r\n\r\n-1\r\n" + JOB, 400),
        (b"Transfer-Encoding: gzip\r\n\r\n" + JOB, 501),
        (b"Content-Length: 33\r\nContent-Length: 4\r\n\r\n" + JOB, 400),
    ],
    ids=["negative chunk", "chunk to the end", "not chunked", "two lengths"],
)
def test_a_body_framed_wrong_is_refused_and_the_connection_closed(
    server: tuple[subprocess.Popen[str], str], framing: bytes, status: int
) -> None:
    _, base = server
    head = b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

    answered, headers, body = raw(base, head + framing)

    assert answered == status and headers["connection"] == "close"
    assert json.loads(body)["status"] == status


def test_the_document_is_served_after_reading_a_body_so_the_connection_stays_in_step(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    _, base = server
    smuggled = b"GET /jobs/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = http.client.HTTPResponse(connection, method="GET")
        answer.begin()
        assert answer.status == 200 and json.loads(answer.read())["openapi"] == "3.0.3"
        connection.settimeout(1)
        with pytest.raises(TimeoutError):  # nothing more: the body was not taken for a request
            connection.recv(1)


def test_an_http_0_9_request_gets_a_problem_with_a_status_line(server: tuple[subprocess.Popen[str], str]) -> None:
    _, base = server
    status, headers, _ = raw(base, b"GET /jobs/abc\r\n\r\n")

    assert status == 505 and headers["content-type"] == "application/problem+json"


def test_a_percent_encoded_job_id_reaches_the_handler_decoded(server: tuple[subprocess.Popen[str], str]) -> None:
    _, base = server
    request = urllib.request.Request(
        f"{base}/jobs", data=JOB, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        job_id = json.load(answer)["job_id"]
    encoded = job_id.replace("-", "%2D")

    with urllib.request.urlopen(f"{base}/jobs/{encoded}", timeout=10) as answer:
        assert answer.status == 200 and json.load(answer)["job_id"] == job_id


@pytest.fixture
def logged() -> Iterator[tuple[str, IO[str]]]:
    """The server, and its stderr as it wrote it."""
    with tempfile.TemporaryFile("w+") as log, local_server(log) as (_, base):
        yield base, log


def written(log: IO[str]) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def test_a_body_shorter_than_its_content_length_is_refused_not_accepted(logged: tuple[str, IO[str]]) -> None:
    base, _ = logged
    host, port = base.removeprefix("http://").split(":")
    head = b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head % (len(JOB) + 10) + JOB)  # a whole job, and a promise of more
        connection.shutdown(socket.SHUT_WR)
        answer = http.client.HTTPResponse(connection, method="POST")
        answer.begin()
        body = json.loads(answer.read())

    assert (answer.status, body["type"]) == (400, "/problems/bad-content-length")
    assert body["detail"] == f"the body ended after {len(JOB)} of {len(JOB) + 10} bytes"


def test_control_characters_reach_the_access_log_escaped(logged: tuple[str, IO[str]]) -> None:
    base, log = logged

    raw(base, b"GET /jobs/\x1b[2J\x07 HTTP/1.1\r\nHost: x\r\n\r\n")

    text = written(log)
    assert "/jobs/\\x1b[2J\\x07" in text and "\x1b" not in text and "\x07" not in text


def test_a_client_that_hangs_up_mid_request_leaves_a_line_not_a_traceback(logged: tuple[str, IO[str]]) -> None:
    base, log = logged
    host, port = base.removeprefix("http://").split(":")
    head = b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    connection = socket.create_connection((host, int(port)), timeout=10)
    connection.sendall(head + b'{"type"')
    # A reset, not a close: the server is waiting for the rest of the body.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()

    # The next request is answered: the server is still serving.
    assert raw(base, b"GET /jobs/x HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 404
    text = written(log)
    assert "hung up before its answer" in text and "Traceback" not in text


# Its own process: moto's state is per process, and the embedded AWS makes
# fixed names ("jobs") that a second run in one process would find taken.
EMBEDDED_KEY = """
import json, os, boto3
from entrypoints.local_server import start_embedded_aws
moto = start_embedded_aws()
host, port = moto.get_host_and_port()
secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["JOB_ID_KEY_SECRET"])
print(json.dumps({
    "endpoint": os.environ["AWS_ENDPOINT_URL"] == f"http://{host}:{port}",
    "plain_key": "JOB_ID_KEY" in os.environ,
    "key_length": len(secret["SecretString"]),
}))
moto.stop()
"""


def test_make_run_reads_its_key_from_a_secret_of_its_own_as_the_stack_does() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["JOB_ID_KEY"] = "a leftover that must not win" * 2
    run = subprocess.run([sys.executable, "-c", EMBEDDED_KEY], env=env, capture_output=True, text=True, check=True)

    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"endpoint": True, "plain_key": False, "key_length": 43}
