"""The job service as one construct a CDK app instantiates with its own
handlers; the project's stack is built from it.

    from aws_cdk import Duration, Stack, aws_iam as iam
    from infra.job_service import HandlerCode, JobService, WorkerOptions

    service = JobService(
        stack,
        "Jobs",
        handlers=HandlerCode(source=Path("handlers"), registry="thumbnails.handlers:registry"),
        worker=WorkerOptions(
            timeout=Duration.minutes(2),
            memory_mb=1024,
            environment={"BUCKET": bucket.bucket_name},
            grants=[iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects("*")])],
        ),
    )

It holds the table, the queues, the event bus the completion events go
to, the three functions, the REST API, the reconciler's schedule, the
alarms and the dashboard, and accepts its own cdk-nag findings (each with
its reason): an app adds ``AwsSolutionsChecks`` and sees only its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
from aws_cdk import Names, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from entrypoints.api_gateway import CallerScope
from infra.acknowledgements import acknowledge
from infra.api import Invokers, JobsRestApi
from infra.bundling import lambda_code
from infra.data import JobsTable
from infra.functions import API_CONCURRENCY, ARCHITECTURE, RUNTIME, TUNING, JobFunctions, WorkerOptions
from infra.limits import ClientApp
from infra.messaging import MAX_RECEIVE_COUNT, JobQueues
from infra.monitoring import Alarms
from infra.schedule import ReconcilerSchedule


@attrs.frozen
class HandlerCode:
    """A deployment's handlers: a directory whose contents go into the
    functions' bundle beside the service's packages, the registry in it
    (``package.module:attribute``, as ``JOB_HANDLERS`` reads it), and the
    pinned requirements its code needs."""

    source: Path
    registry: str
    requirements: Sequence[str] = ()

    def __attrs_post_init__(self) -> None:
        if not self.source.is_dir():
            raise ValueError(f"{self.source} is not a directory of handler code")
        module, _, attribute = self.registry.partition(":")
        if not module or not attribute:
            raise ValueError(f"registry {self.registry!r} must name package.module:attribute")
        if (
            not (self.source / Path(*module.split("."))).with_suffix(".py").is_file()
            and not (self.source / Path(*module.split(".")) / "__init__.py").is_file()
        ):
            raise ValueError(f"{module} is not in {self.source}")


class JobService(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        handlers: HandlerCode | None = None,
        worker: WorkerOptions | None = None,
        reject_unknown_types: bool = False,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        tracing: bool = False,
        alarm_email: str | None = None,
        job_id_key: secretsmanager.ISecret | None = None,
        caller_scope: CallerScope = CallerScope.AUTO,
        invokers: Invokers | None = None,
        api_concurrency: int | None = API_CONCURRENCY,
        client_apps: tuple[ClientApp, ...] = (),
        client_keys_required: bool = True,
    ) -> None:
        super().__init__(scope, id)
        if reject_unknown_types and handlers is None:
            raise ValueError("reject_unknown_types needs handlers: without them every type is known")
        if int(TUNING["JOB_MAX_ATTEMPTS"]) >= MAX_RECEIVE_COUNT:
            raise ValueError("JOB_MAX_ATTEMPTS must stay below the queue's maxReceiveCount")
        worker = worker or WorkerOptions()
        self.tracing = tracing
        code = lambda_code(
            RUNTIME,
            ARCHITECTURE,
            handlers.source if handlers else None,
            handlers.requirements if handlers else (),
        )
        self.jobs = JobsTable(self, "Data", removal_policy=removal_policy)
        self.queues = JobQueues(self, "Messaging", worker_timeout=worker.timeout)
        # Every job's completion event goes here; subscribers add rules. Named,
        # one per service, and the name given as text wherever it is read:
        # moto's CloudFormation cannot resolve a reference to a bus.
        self.bus_name = Names.unique_resource_name(self, max_length=256, separator="-")
        self.bus = events.EventBus(
            self, "Events", event_bus_name=self.bus_name, description="Completion events of the job service"
        )
        self.functions = JobFunctions(
            self,
            "Functions",
            table=self.jobs,
            queues=self.queues,
            bus=self.bus,
            bus_name=self.bus_name,
            code=code,
            worker_options=worker,
            handlers=handlers.registry if handlers else None,
            job_id_key=job_id_key,
            reject_unknown_types=reject_unknown_types,
            caller_scope=caller_scope,
            api_concurrency=api_concurrency,
            log_retention=log_retention,
            removal_policy=removal_policy,
            tracing=tracing,
        )
        self.api = JobsRestApi(
            self,
            "Api",
            function=self.functions.api,
            log_retention=log_retention,
            removal_policy=removal_policy,
            tracing=tracing,
            invokers=invokers,
            client_apps=client_apps,
            keys_required=client_keys_required,
        )
        ReconcilerSchedule(self, "Schedule", function=self.functions.reconciler)
        self.monitoring = Alarms(
            self,
            "Monitoring",
            queue=self.queues.queue,
            dead_letters=self.queues.dead_letters,
            rest_api=self.api.rest_api,
            api=self.functions.api,
            worker=self.functions.worker,
            reconciler=self.functions.reconciler,
            notify=alarm_email,
        )
        acknowledge(self)

    @property
    def worker_policy(self) -> IConstruct:
        """The worker's role policy, where a deployment's own grants land
        (and its cdk-nag acknowledgements of them belong)."""
        role = self.functions.worker.role
        assert role is not None
        return role.node.find_child("DefaultPolicy")
