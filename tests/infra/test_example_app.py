"""The example app a team writes (``examples/cdk_app``): the job service
with its own handlers synthesizes offline, cdk-nag clean, and the worker
runs as the app asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from examples.cdk_app.app import HANDLERS, build
from infra.functions import WorkerOptions
from infra.job_service import HandlerCode, JobService
from infra.messaging import MAX_RECEIVE_COUNT
from tests.infra.test_stack import function_named, grants, resources, statements_of


@pytest.fixture(scope="module")
def template() -> Template:
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = build(app)
    app.synth()  # an unacknowledged cdk-nag finding raises here
    return Template.from_stack(stack)


def test_the_worker_runs_the_apps_handlers_with_its_settings(template: Template) -> None:
    _, worker = function_named(template, "entrypoints.worker.handler")
    assert (worker["Timeout"], worker["MemorySize"], worker["ReservedConcurrentExecutions"]) == (120, 1024, 4)
    environment: dict[str, Any] = worker["Environment"]["Variables"]
    assert environment["JOB_HANDLERS"] == "thumbnails.handlers:registry"
    assert "THUMBNAIL_BUCKET" in environment
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": 4}})


def test_the_queue_waits_six_worker_timeouts_before_a_message_comes_back(template: Template) -> None:
    [queue] = [q for q in resources(template, "AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]]
    assert queue["Properties"]["VisibilityTimeout"] == 6 * 120
    assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT


def test_the_worker_gets_the_apps_grants_and_the_api_refuses_unknown_types(template: Template) -> None:
    [bucket] = resources(template, "AWS::S3::Bucket")
    pairs = grants(statements_of(template, "entrypoints.worker.handler"))
    assert {("s3:GetObject", f"{bucket}/thumbnails/*"), ("s3:PutObject", f"{bucket}/thumbnails/*")} <= pairs
    assert not [p for p in grants(statements_of(template, "entrypoints.api.handler")) if p[0].startswith("s3:")]
    _, api = function_named(template, "entrypoints.api.handler")
    assert api["Environment"]["Variables"]["REJECT_UNKNOWN_TYPES"] == "true"
    assert api["Environment"]["Variables"]["JOB_HANDLERS"] == "thumbnails.handlers:registry"


def test_the_registry_it_names_loads_and_knows_its_types() -> None:
    import sys

    sys.path.insert(0, str(HANDLERS))
    try:
        from entrypoints.config import load_handlers

        registry = load_handlers("thumbnails.handlers:registry")
    finally:
        sys.path.remove(str(HANDLERS))
    assert registry.knows("thumbnail") and not registry.knows("resize")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (lambda: WorkerOptions(environment={"TABLE_NAME": "mine"}), "may not set TABLE_NAME"),
        (lambda: WorkerOptions(environment={"JOB_ID_KEY_SECRET": "k"}), "may not set JOB_ID_KEY_SECRET"),
        (lambda: WorkerOptions(timeout=Duration.seconds(5)), "twice DEADLINE_MARGIN_MS"),
        (lambda: WorkerOptions(concurrency=1), "at least 2"),
        (lambda: HandlerCode(source=HANDLERS, registry="thumbnails.handlers"), "package.module:attribute"),
        (lambda: HandlerCode(source=HANDLERS, registry="missing.module:registry"), "missing.module is not in"),
        (lambda: HandlerCode(source=Path("/no/such/dir"), registry="a:b"), "not a directory"),
    ],
)
def test_a_deployment_that_cannot_work_is_refused_at_synth(options: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        options()


def test_refusing_unknown_types_needs_handlers() -> None:
    with pytest.raises(ValueError, match="needs handlers"):
        JobService(Stack(App(context={"aws:cdk:bundling-stacks": []}), "S"), "Jobs", reject_unknown_types=True)


def test_a_grant_is_a_policy_statement_on_the_worker_only() -> None:
    statement = iam.PolicyStatement(actions=["sqs:SendMessage"], resources=["arn:aws:sqs:eu-west-1:1:other"])
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "S")
    JobService(stack, "Jobs", worker=WorkerOptions(grants=[statement]))
    template = Template.from_stack(stack)
    assert ("sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:other") in grants(
        statements_of(template, "entrypoints.worker.handler")
    )
    assert ("sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:other") not in grants(
        statements_of(template, "entrypoints.reconciler.handler")
    )
