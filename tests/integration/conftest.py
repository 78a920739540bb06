"""moto server as a real HTTP endpoint, fresh resources per test, and the
production container wired to them with a fault injector on its clients."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from typing import IO, Any

import attrs
import boto3
import pytest
from dependency_injector import providers
from moto.server import ThreadedMotoServer

from adapters.dynamodb_schema import create_table_request
from chaos.faults import FaultInjector
from entrypoints.config import Settings
from entrypoints.containers import Container

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def blackhole() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: real read
    timeouts, as from a service that stored the request and then hung."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> None:
    """boto3's own settings point every client at moto; nothing is patched."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)


@attrs.define
class Aws:
    """Fresh table and queue, and plain clients to inspect them."""

    dynamodb: Any
    sqs: Any
    table_name: str
    queue_url: str

    def item(self, job_id: str) -> dict[str, Any] | None:
        answer = self.dynamodb.get_item(TableName=self.table_name, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        item: dict[str, Any] | None = answer.get("Item")
        return item

    def items(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=self.table_name, ConsistentRead=True)["Items"])

    def messages(self) -> list[dict[str, Any]]:
        """Every message in the queue (received, then made visible again)."""
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(10):
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            seen.update((m["MessageId"], m) for m in batch)
        for message in seen.values():
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return list(seen.values())


@pytest.fixture
def aws(aws_environment: None) -> Aws:
    return new_aws()


def new_aws() -> Aws:
    """A fresh table and queue on the endpoint the environment names."""
    suffix = uuid.uuid4().hex[:10]
    dynamodb = boto3.client("dynamodb")
    sqs = boto3.client("sqs")
    table_name = f"jobs-{suffix}"
    dynamodb.create_table(**create_table_request(table_name))
    queue_url = sqs.create_queue(QueueName=f"jobs-{suffix}")["QueueUrl"]
    return Aws(dynamodb, sqs, table_name, queue_url)


@pytest.fixture
def faults() -> FaultInjector:
    return FaultInjector()


def settings_for(aws: Aws, **overrides: Any) -> Settings:
    base = {
        "table_name": aws.table_name,
        "queue_url": aws.queue_url,
        "send_base_delay_ms": 1,
        "send_max_delay_ms": 5,
        "store_base_delay_ms": 1,
        "store_max_delay_ms": 5,
    }
    return Settings(**{**base, **overrides})


@pytest.fixture
def container(aws: Aws, faults: FaultInjector) -> Container:
    """The production container, its settings overridden, faults attached."""
    container = Container()
    container.settings.override(providers.Object(settings_for(aws)))
    faults.attach(container.ports.sqs_client())
    faults.attach(container.ports.dynamodb_client())
    return container


@contextlib.contextmanager
def local_server(log: IO[str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`make run` as a user starts it: its own process, its own embedded
    moto, on a free port; the process and its base URL. Its stderr goes to
    ``log`` if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("TABLE_NAME", "QUEUE_URL")}
    # The server's log, kept so that a failure can show what it was doing.
    with contextlib.nullcontext(log) if log is not None else tempfile.TemporaryFile("w+") as log:
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
        # Its later output (metrics lines among it) must not fill the pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        try:
            yield process, base
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
                log.seek(0)
                print(log.read()[-4000:])  # shown by pytest when the test failed
