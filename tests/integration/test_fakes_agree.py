"""The stateful test's scenarios, fewer, against moto server: each scenario
runs on the fakes and on the real adapters, with the same faults injected
at botocore's before-send, and both must end the same way (answers, job
state, messages), the reconciler and the worker included. This is what
lets the thousands of examples on the fakes speak for the real adapters.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import attrs
from dependency_injector import providers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.dynamodb_items import from_item
from chaos.faults import Crash, FaultInjector, Pass
from domain.failures import Service
from domain.job import Job
from domain.outcomes import Outcome
from domain.retry import RetryPolicy
from domain.submission import Submission
from domain.work import IncomingMessage
from entrypoints.containers import Container
from tests.fakes import OnFakes
from tests.faults import Fault
from tests.integration.conftest import Aws, new_aws, settings_for

# The shared vocabulary: the fakes play each fault, botocore meets it.
SENDS = [Fault.THROTTLED, Fault.UNAVAILABLE, Fault.NOT_SENT, Fault.TIMED_OUT, Fault.LOST, Fault.PERMANENT]
STORES = [Fault.THROTTLED, Fault.UNAVAILABLE, Fault.LOST]
CRASHES = [Fault.CRASH, Fault.CRASH_AFTER]


@attrs.frozen
class Request:
    key: str | None
    sends: list[Fault]
    creates: list[Fault]  # failing steps only: the next create goes through
    saves: list[Fault]
    crash: tuple[str, Fault] | None  # crash on the next call of "publish" or "save"


requests = st.builds(
    Request,
    key=st.sampled_from([None, "k1"]),
    sends=st.lists(st.sampled_from(SENDS), max_size=4),
    creates=st.lists(st.sampled_from(STORES), max_size=2),
    saves=st.lists(st.sampled_from(STORES), max_size=3),
    crash=st.none() | st.tuples(st.sampled_from(["publish", "save"]), st.sampled_from(CRASHES)),
)


@attrs.frozen
class Snapshot:
    """What must agree: answers, then each job and its message count."""

    answers: list[str]
    jobs: list[tuple[Any, ...]]


def answer(outcome: Outcome | None) -> str:
    if outcome is None:
        return "crashed"
    return type(outcome).__name__


def shape(job: Job, messages: int) -> tuple[Any, ...]:
    error = job.last_error
    return (
        job.idempotency_key,
        job.status.value,
        job.attempts,
        job.awaiting_confirmation,
        None if error is None else (error.code, error.kind.value),
        messages,
    )


POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002, attempt_timeout_s=3)
STORE_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002, attempt_timeout_s=1.5)


def on_fakes(scenario: list[Request]) -> Snapshot:
    fakes = OnFakes(send_policy=POLICY, store_policy=STORE_POLICY)
    clock, jobs, queue = fakes.clock, fakes.jobs, fakes.queue
    enqueue = fakes.enqueue()
    answers = []
    for request in scenario:
        sends, saves = list(request.sends), list(request.saves)
        if request.crash:
            (sends if request.crash[0] == "publish" else saves).append(request.crash[1])
        queue.fail(*sends)
        jobs.fail("create", *request.creates)
        jobs.fail("save", *saves)
        try:
            answers.append(answer(enqueue(submission(request), clock.now() + timedelta(seconds=30))))
        except Crash:
            answers.append("crashed")
        jobs.forget_faults()
        queue.forget_faults()
    clock.advance(1)  # real time moves on between the requests and the reconciler run
    fakes.reconciler(grace=timedelta(0))(clock.now() + timedelta(seconds=60))
    worker = fakes.worker(lambda job, payload: None)
    for message in list(queue.sent):
        worker(
            IncomingMessage(message.job_id, message.enqueue_id, {}, message.correlation_id),
            clock.now() + timedelta(seconds=30),
        )
    counts = {job_id: sum(m.job_id == job_id for m in queue.sent) for job_id in jobs.jobs}
    return Snapshot(answers, sorted((shape(job, counts[job.job_id]) for job in jobs.jobs.values()), key=repr))


def on_moto(scenario: list[Request], aws: Aws) -> Snapshot:
    faults = FaultInjector()
    container = Container()
    container.settings.override(
        providers.Object(
            settings_for(
                aws,
                send_max_attempts=3,
                send_base_delay_ms=1,
                send_max_delay_ms=2,
                store_base_delay_ms=1,
                store_max_delay_ms=2,
            )
        )
    )
    faults.attach(container.ports.sqs_client())
    faults.attach(container.ports.dynamodb_client())
    enqueue = container.use_cases.enqueue_job()
    answers = []
    for request in scenario:
        sends, saves = list(request.sends), list(request.saves)
        if request.crash:
            (sends if request.crash[0] == "publish" else saves).append(request.crash[1])
        # create and save are both PutItem: the create's faults, then the
        # create that goes through, then the saves' faults.
        faults.add("SendMessage", *[fault.at_botocore(Service.QUEUE) for fault in sends])
        faults.add(
            "PutItem",
            *[fault.at_botocore(Service.STORE) for fault in request.creates],
            Pass(),
            *[fault.at_botocore(Service.STORE) for fault in saves],
        )
        deadline = container.ports.clock().now() + timedelta(seconds=30)
        try:
            answers.append(answer(enqueue(submission(request), deadline)))
        except Crash:
            answers.append("crashed")
        faults.clear()
    container.settings.override(providers.Object(settings_for(aws, reconcile_grace_seconds=0)))
    container.use_cases.reconcile_stuck_jobs()(container.ports.clock().now() + timedelta(seconds=60))
    worker = container.use_cases.process_job_message()
    received = aws.messages()
    for message in received:
        body = json.loads(message["Body"])
        worker(
            IncomingMessage(body["job_id"], body["enqueue_id"], body["payload"], body["correlation_id"]),
            container.ports.clock().now() + timedelta(seconds=30),
        )
    jobs = [from_item(item) for item in aws.items()]
    counts = {job.job_id: sum(json.loads(m["Body"])["job_id"] == job.job_id for m in received) for job in jobs}
    return Snapshot(answers, sorted((shape(job, counts[job.job_id]) for job in jobs), key=repr))


def submission(request: Request) -> Submission:
    return Submission(job_type="t", payload={"n": 1}, correlation_id="c", caller="c", idempotency_key=request.key)


EXAMPLES = int(os.environ.get("AGREEMENT_EXAMPLES", "25"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(requests, min_size=1, max_size=3))
def test_the_fakes_and_the_real_adapters_end_the_same_way(aws_environment: None, scenario: list[Request]) -> None:
    assert on_moto(scenario, new_aws()) == on_fakes(scenario)
