"""The whole system on this machine: moto server, and the three handlers
built by the production container, each with its own clients."""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import attrs
import boto3
from dependency_injector import providers
from moto.server import ThreadedMotoServer

from adapters.dynamodb_items import from_item
from adapters.dynamodb_schema import create_table_request
from adapters.json_logging import configure as configure_logging
from chaos.faults import Crash
from chaos.invariants import Message, Run
from domain.budget import CLOCK_SKEW
from domain.job import Job
from entrypoints.api_gateway import caller_of, local_authorizer, proxy_event
from entrypoints.config import Settings
from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from entrypoints.sqs_events import sqs_event
from ports.handlers import JobContext, JobHandler
from tests.fakes import FakeMetrics

REGION = "us-east-1"


class ShiftedClock:
    """The real clock, plus a shift the run moves forward at its end, so
    that leases and grace periods pass without anyone waiting for them."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift


class System:
    def __init__(self, faults: Any, *, seed: int) -> None:
        self._faults = faults
        self._seed = seed
        self.runs: list[Run] = []
        self._metrics = FakeMetrics()
        self.clock = ShiftedClock()

    @property
    def metrics(self) -> Counter[str]:
        return self._metrics.counts

    def __enter__(self) -> System:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        environment = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "chaos",
            "AWS_SECRET_ACCESS_KEY": "chaos",
        }
        self._saved_environment = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        self._dynamodb, self._sqs = boto3.client("dynamodb"), boto3.client("sqs")
        self._table = f"jobs-{uuid.uuid4().hex[:8]}"
        self._dynamodb.create_table(**create_table_request(self._table))
        self._queue = self._sqs.create_queue(QueueName=self._table)["QueueUrl"]
        # Short backoff keeps the run quick; the protocol is the same.
        settings = Settings(
            table_name=self._table,
            queue_url=self._queue,
            send_base_delay_ms=5,
            send_max_delay_ms=50,
            store_base_delay_ms=5,
            store_max_delay_ms=50,
            log_level="ERROR",
        )
        self.settings = settings
        configure_logging(settings.log_level)
        api = self._container(settings, faults=True)
        self._api, self._ids = api.jobs_api(), api.ports.ids()
        self._worker = self._container(settings, faults=True, step=True).batch_worker()
        self._reconciler = self._container(
            attrs.evolve(settings, reconcile_grace_seconds=0), faults=False
        ).scheduled_reconciler()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._moto.stop()
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _container(self, settings: Settings, *, faults: bool, step: bool = False) -> Container:
        container = Container()
        container.settings.override(providers.Object(settings))
        container.ports.rng.override(providers.Object(random.Random(self._seed)))
        container.ports.clock.override(providers.Object(self.clock))
        container.ports.metrics.override(providers.Object(self._metrics))
        if step:
            container.ports.handlers.override(providers.Object(CountingHandlers(self)))
        if faults:
            self._faults.attach(container.ports.sqs_client())
            self._faults.attach(container.ports.dynamodb_client())
        return container

    def count_processing(self, context: JobContext) -> None:
        # The claim the run holds lasts to its invocation's end, plus the skew.
        lease_until = context.deadline + self.settings.deadline_margin + CLOCK_SKEW
        self.runs.append(Run(context.job_id, context.attempt, self.clock.now(), lease_until))

    def submit(self, payload: dict[str, Any], key: str | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
        body = json.dumps({"type": "chaos", "payload": payload})
        event = proxy_event(
            "POST", "/jobs", body, headers, request_id=str(uuid.uuid4()), stage="chaos", vouched=local_authorizer()
        )
        answer: dict[str, Any] = self._api(event, LocalContext(20_000))
        return answer

    def job_id_for_key(self, key: str) -> str:
        """The job a request with this key names (every request here comes
        from the local server's one caller)."""
        caller = caller_of(local_authorizer())
        assert caller is not None
        return str(self._ids.job_id_for_key(caller, key))

    def work_once(self, wait_s: float = 0) -> int:
        """One worker invocation on what the queue hands out; what it does
        not finish becomes visible again, as after a visibility timeout.
        Returns how many messages it acknowledged. ``wait_s``: pause that
        long when the queue is empty."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages and wait_s:
            time.sleep(wait_s)  # an idle poller's pause, as a long poll would wait
        if not messages:
            return 0
        event = sqs_event(messages, self._queue)
        try:
            failed = {f["itemIdentifier"] for f in self._worker(event, LocalContext(30_000))["batchItemFailures"]}
        except Crash:  # the invocation was killed: nothing was acknowledged
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self._sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"])
        return len(messages) - len(failed)

    def reconcile(self) -> int:
        report = self._reconciler({"id": "chaos"}, LocalContext(60_000))
        return int(report["settled"])

    def drain(self, rounds: int = 1000) -> None:
        """Work until a round acknowledges nothing: the queue is empty, or
        what is left waits for a lease to pass."""
        for _ in range(rounds):
            if not self.work_once():
                return

    def settle(self) -> int:
        """Quiescence: every lease and grace period over, the queue drained,
        the reconciler run, and the queue drained again. Returns how many
        jobs the reconciler settled."""
        self.drain()
        self.clock.shift += timedelta(hours=1)
        self.drain()
        settled = self.reconcile()
        self.drain()
        return settled

    def jobs(self) -> list[Job]:
        items = self._dynamodb.scan(TableName=self._table, ConsistentRead=True)["Items"]
        return [from_item(item) for item in items]

    def messages_left(self) -> list[Message]:
        """What is still in the queue (read, then made visible again)."""
        seen: dict[str, dict[str, Any]] = {}
        while batch := self._sqs.receive_message(
            QueueUrl=self._queue, MaxNumberOfMessages=10, VisibilityTimeout=60
        ).get("Messages", []):
            seen.update((m["MessageId"], m) for m in batch)
        for message in seen.values():
            self._sqs.change_message_visibility(
                QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        bodies = [json.loads(m["Body"]) for m in seen.values()]
        return [Message(body["job_id"], body["enqueue_id"]) for body in bodies]


class CountingHandlers:
    """Every job type's handler records its run, and returns nothing."""

    def __init__(self, system: System) -> None:
        self._system = system

    def handler_for(self, job_type: str) -> JobHandler:
        return lambda payload, context: self._system.count_processing(context)

    def knows(self, job_type: str) -> bool:
        return True
