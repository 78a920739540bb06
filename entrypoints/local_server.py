"""Serve the jobs API locally: each HTTP request becomes an API Gateway
REST proxy event for ``entrypoints.api.handler``.

With TABLE_NAME and QUEUE_URL unset it starts moto server in-process and
creates the table, the queue and the event bus there (no AWS account, no
Docker), and runs the worker and the reconciler beside the API
(``entrypoints.local_worker``) with the example handlers
(``examples.handlers``) unless JOB_HANDLERS names others. With both set, it
serves on those resources through boto3's usual credentials and endpoint
settings, and runs the worker only if asked (``--worker``): a deployed
worker may be consuming that queue already.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import signal
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from entrypoints import openapi
from entrypoints.api_gateway import LOCAL_CALLER, BadRequest, json_response, local_authorizer, problem, proxy_event
from entrypoints.lambda_context import LocalContext

REGION = "us-east-1"
# Names the caller of a request to this server (unset: the local caller).
LOCAL_CALLER_HEADER = "x-local-caller"
# Digits only, ASCII only ("²".isdigit() is true), and at most 19 of them.
CONTENT_LENGTH = re.compile("[0-9]{1,19}")
CHUNK_SIZE = re.compile(b"[0-9A-Fa-f]{1,16}")
# Where the OpenAPI document is served (by this server only).
OPENAPI_PATH = "/openapi.json"
# API Gateway's own limit on a request's body.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# What a request line may carry into the access log that a terminal would
# obey (colours, cursor moves, a line of its own): written escaped.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Hop-by-hop headers API Gateway does not pass on, and the caller header.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", LOCAL_CALLER_HEADER}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m entrypoints.local_server",
        description="Serve the jobs API on this machine, on an embedded moto server unless "
        "TABLE_NAME and QUEUE_URL name real resources.",
        epilog=f"The OpenAPI document is served at {OPENAPI_PATH}. "
        "Every request is from one local caller, unless an X-Local-Caller header names another: "
        "each caller sees only its own jobs and Idempotency-Keys. Only this server reads that header; "
        "behind API Gateway the caller is the IAM principal that signed the request.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8080")), help="port (default: $PORT or 8080)"
    )
    parser.add_argument(
        "--timeout-ms",
        type=int,
        default=20_000,
        help="the Lambda timeout each request is given, as the deployed function has (default: %(default)s)",
    )
    parser.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="poll the queue with the worker and run the reconciler every 30 s, as AWS would "
        "(default: on with the embedded AWS, off with TABLE_NAME and QUEUE_URL set)",
    )
    args = parser.parse_args(argv)

    moto = None
    if not (os.environ.get("TABLE_NAME") and os.environ.get("QUEUE_URL")):
        moto = start_embedded_aws()

    from entrypoints.api import handler
    from entrypoints.containers import Container
    from entrypoints.local_worker import LocalWorker

    worker = None
    if args.worker if args.worker is not None else moto is not None:
        worker = LocalWorker(Container(), region=os.environ.get("AWS_REGION") or REGION)

    class Handler(ApiGatewayBridge):
        timeout_ms = args.timeout_ms
        lambda_handler = staticmethod(handler)

    server = LocalHttpServer((args.host, args.port), Handler)
    # Stop cleanly on Ctrl-C and on a process manager's SIGTERM, even when
    # started from a shell that ran it in the background (which ignores
    # SIGINT). Installed before the address is printed: callers may signal then.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    base = f"http://{args.host}:{server.server_port}"
    try:
        print(f"Jobs API on {base}  (table {os.environ['TABLE_NAME']}, queue {os.environ['QUEUE_URL']})")
        if worker is not None:
            worker.start()
            print(f"Worker polling the queue, handlers {os.environ.get('JOB_HANDLERS') or 'none (every job succeeds)'}")
        print("Try:")
        print(
            f"  curl -i -X POST {base}/jobs -H 'Content-Type: application/json' "
            '-H \'Idempotency-Key: demo-1\' -d \'{"type": "echo", "payload": {"width": 640}}\''
        )
        print(f"  curl -i {base}/jobs/<job_id from the answer>   (SUCCEEDED, with its result)")
        print("  the same POST with type flaky (fails once, succeeds on its 2nd attempt) or doomed (FAILED at once)")
        print(f"  curl -i {base}/jobs/<job_id> -H 'X-Local-Caller: someone-else'   (404: not their job)")
        print(f"  curl {base}{OPENAPI_PATH}   (the API's OpenAPI document)")
        print("Ctrl-C stops.", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        if worker is not None:
            worker.stop()
            if worker.is_alive():  # a signal may come before it started
                worker.join(timeout=5)
        server.server_close()
        if moto is not None:
            moto.stop()
    return 0


def start_embedded_aws() -> Any:
    """moto server on a free local port, with the table and queue made."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from adapters.dynamodb_schema import create_table_request

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    boto3.client("dynamodb").create_table(**create_table_request("jobs"))
    queue_url = boto3.client("sqs").create_queue(QueueName="jobs")["QueueUrl"]
    boto3.client("events").create_event_bus(Name="jobs")
    # A fresh key per run (the embedded tables live only as long), read from
    # Secrets Manager as the deployed API reads its own.
    key = boto3.client("secretsmanager").create_secret(Name="job-id-key", SecretString=secrets.token_urlsafe(32))
    os.environ.update(
        {"TABLE_NAME": "jobs", "QUEUE_URL": queue_url, "EVENT_BUS_NAME": "jobs", "JOB_ID_KEY_SECRET": key["ARN"]}
    )
    os.environ.pop("JOB_ID_KEY", None)
    os.environ.setdefault("JOB_HANDLERS", "examples.handlers:registry")
    print(f"Embedded AWS (moto server) on http://{host}:{port}", flush=True)
    return moto


class ApiGatewayBridge(BaseHTTPRequestHandler):
    """Each request becomes the event API Gateway would send; what API
    Gateway itself would answer (a body it cannot read, one over its
    10 MB limit) is answered here, as a problem, never as HTML."""

    timeout_ms = 20_000
    lambda_handler: Any = None
    # So that a client's keep-alive connection is reused, as through API Gateway.
    protocol_version = "HTTP/1.1"
    # A client that stops sending holds a thread no longer than this.
    timeout = 30

    def __getattr__(self, name: str) -> Any:
        # Every method goes to the handler, which answers 405 for those the
        # API does not have (the standard library would answer 501).
        if name.startswith("do_"):
            return self._invoke
        raise AttributeError(name)

    def _invoke(self) -> None:
        request_id = str(uuid.uuid4())
        try:
            if self.request_version == "HTTP/0.9":
                raise BadRequest(505, "http-version", "HTTP version not supported", "use HTTP/1.0 or HTTP/1.1")
            body = self._body()
        except BadRequest as refused:
            self._refuse(refused, request_id)
            return
        except TimeoutError:
            self._refuse(BadRequest(408, "request-timeout", "Request timeout", "the body did not arrive"), request_id)
            return
        except Exception as unreadable:
            detail = f"the body could not be read ({type(unreadable).__name__})"
            self._refuse(BadRequest(400, "bad-body", "Bad request", detail), request_id)
            return
        if self.command in ("GET", "HEAD") and urlsplit(self.path).path == OPENAPI_PATH:
            host, port = self.connection.getsockname()[:2]
            server = f"http://{self.headers.get('Host') or f'{host}:{port}'}"
            self._answer(json_response(200, openapi.document(server, signed=False), {"X-Correlation-Id": request_id}))
            return
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        caller = self.headers.get(LOCAL_CALLER_HEADER)
        url = urlsplit(self.path)
        event = proxy_event(
            self.command,
            url.path,
            body,
            headers,
            request_id=request_id,
            stage="local",
            # As API Gateway hands them on: decoded, the last of a repeated name.
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            # Stands in for an authorizer, so that tenancy can be tried here.
            # Only this server reads the header; the handler never does.
            vouched=local_authorizer(caller or LOCAL_CALLER),
        )
        self._answer(self.lambda_handler(event, LocalContext(self.timeout_ms, request_id)))

    def _refuse(self, refused: BadRequest, request_id: str) -> None:
        # What is left of the body cannot be told from a next request.
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # an answer with a status line
        self._answer(
            problem(
                refused.status, refused.slug, refused.title, refused.detail, correlation_id=request_id, retryable=False
            )
        )

    def _body(self) -> bytes | None:
        codings = [c.strip().lower() for c in ",".join(self.headers.get_all("Transfer-Encoding") or []).split(",")]
        lengths = set(self.headers.get_all("Content-Length") or [])
        if codings != [""]:
            if lengths:
                self.close_connection = True  # both framings given: never reuse the connection
            if codings != ["chunked"]:
                raise BadRequest(501, "transfer-encoding", "Not implemented", "only Transfer-Encoding: chunked is read")
            return self._chunked()
        if not lengths:
            return None
        if len(lengths) > 1:
            raise BadRequest(400, "bad-content-length", "Bad request", "Content-Length is given twice, differently")
        raw = lengths.pop().strip()
        if not CONTENT_LENGTH.fullmatch(raw):
            raise BadRequest(400, "bad-content-length", "Bad request", f"Content-Length {raw[:40]!r} is not a number")
        length = int(raw)
        if length > MAX_REQUEST_BYTES:
            raise BadRequest(
                413, "body-too-large", "Content too large", f"the body is {length} bytes; at most {MAX_REQUEST_BYTES}"
            )
        body = self.rfile.read(length) if length else None
        if body is not None and len(body) < length:
            # The client stopped sending: what arrived is not the request it meant.
            self.close_connection = True
            raise BadRequest(
                400, "bad-content-length", "Bad request", f"the body ended after {len(body)} of {length} bytes"
            )
        return body

    def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            if not CHUNK_SIZE.fullmatch(line):
                raise BadRequest(400, "bad-chunk", "Bad request", "the chunked body is malformed")
            length = int(line, 16)
            size += length
            if size > MAX_REQUEST_BYTES:
                raise BadRequest(
                    413, "body-too-large", "Content too large", f"the body is over {MAX_REQUEST_BYTES} bytes"
                )
            if length == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(length))
            self.rfile.readline(8)  # the CRLF after each chunk

    def _answer(self, response: dict[str, Any]) -> None:
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode("utf-8")
        self.send_response(response["statusCode"])
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What the standard library refuses before a handler runs (a bad
        request line, headers too long), as a problem instead of HTML."""
        self.close_connection = True
        # Unread request lines count as HTTP/0.9, which would get a bare body.
        self.request_version = "HTTP/1.0"
        detail = message or explain or "the request could not be read"
        self._answer(
            problem(code, "bad-request", "Bad request", detail, correlation_id=str(uuid.uuid4()), retryable=False)
        )

    def log_message(self, format: str, *args: Any) -> None:
        line = CONTROL.sub(lambda control: f"\\x{ord(control.group()):02x}", format % args)
        sys.stderr.write(f"{self.address_string()} {line}\n")


class LocalHttpServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up before its answer is a line in the log,
        not a traceback: nothing is wrong with the server."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            sys.stderr.write(f"{client_address[0]} hung up before its answer\n")
            return
        super().handle_error(request, client_address)


if __name__ == "__main__":
    sys.exit(main())
