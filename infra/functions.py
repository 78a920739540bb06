"""The three Lambda functions, each with its own role and log group.

Roles are written out action by action: the API may put and get items and
send messages, nothing more (no Query, no Scan, no DeleteItem, no
GetQueueAttributes); no statement anywhere has a wildcard action. The
worker and the reconciler put completion events on the service's bus; the
worker also gets what a deployment grants its handlers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct

from entrypoints.api_gateway import CallerScope
from infra.data import JobsTable
from infra.messaging import MESSAGE_RETENTION, JobQueues

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64

# The function settings, written out so that the timeout relations below
# can be read (and are tested) against them. Equal to the code's defaults.
TUNING = {
    "SEND_MAX_ATTEMPTS": "4",
    "SEND_BASE_DELAY_MS": "50",
    "SEND_MAX_DELAY_MS": "1000",
    "SQS_CONNECT_TIMEOUT_S": "1",
    "SQS_READ_TIMEOUT_S": "2",
    "DYNAMODB_CONNECT_TIMEOUT_S": "0.5",
    "DYNAMODB_READ_TIMEOUT_S": "1",
    "STORE_MAX_ATTEMPTS": "3",
    "STORE_BASE_DELAY_MS": "50",
    "STORE_MAX_DELAY_MS": "1000",
    "DEADLINE_MARGIN_MS": "3000",
    "RECONCILE_GRACE_SECONDS": "300",
    "RECONCILE_BATCH_SIZE": "100",
    "MESSAGE_RETENTION_SECONDS": str(int(MESSAGE_RETENTION.to_seconds())),
    "JOB_MAX_ATTEMPTS": "3",
    "MAX_BODY_BYTES": "262144",
    "JOB_RETENTION_DAYS": "30",
    "LOG_LEVEL": "INFO",
}
# Held for the functions that repair and finish jobs, so that a burst of
# API calls (or any other function in the account) cannot take the last
# of the account's concurrency from them. The reconciler needs one at a
# time; the worker's SQS source is capped to what is held for it, so that
# a backlog waits in the queue instead of being throttled into retries.
RECONCILER_CONCURRENCY = 1
WORKER_CONCURRENCY = 10
# The API's own cap. In a brownout of SQS or DynamoDB every request runs to
# its whole budget (API_TIMEOUT, 20 s): at the stage's 100 requests per
# second that is 100 x 20 = 2,000 executions, twice a default account's
# quota, taken from every other function of the account. Capped at 100,
# 100 / 20 s = 5 requests per second still get their true 503, the rest
# are throttled by Lambda and answered 502 retryable by API Gateway
# (INTEGRATION_FAILURE) in milliseconds; in normal running a request takes
# tens of milliseconds, so 100 serves far more than the stage lets through.
API_CONCURRENCY = 100
# Above the send budget plus the margin (tests/infra checks the sum), and
# below API Gateway's 29 s integration timeout.
API_TIMEOUT = Duration.seconds(20)
WORKER_TIMEOUT = Duration.seconds(30)
RECONCILER_TIMEOUT = Duration.seconds(60)
# What the service sets itself: a deployment's worker environment may not.
RESERVED = frozenset(
    {"TABLE_NAME", "QUEUE_URL", "EVENT_BUS_NAME", "JOB_HANDLERS", "JOB_ID_KEY", "JOB_ID_KEY_SECRET", *TUNING}
)


@attrs.frozen
class WorkerOptions:
    """How a deployment runs its worker."""

    timeout: Duration = WORKER_TIMEOUT
    memory_mb: int = 512
    # Read by its handlers (a bucket's name, a feature flag).
    environment: Mapping[str, str] = attrs.field(factory=dict)
    # Its reserved concurrency, and the SQS source's cap (SQS's least is 2).
    concurrency: int = WORKER_CONCURRENCY
    # What its handlers may do beyond the service's own grants.
    grants: Sequence[iam.PolicyStatement] = ()

    def __attrs_post_init__(self) -> None:
        margin_s = int(TUNING["DEADLINE_MARGIN_MS"]) / 1000
        if self.timeout.to_seconds() <= 2 * margin_s:
            raise ValueError(f"the worker's timeout must exceed twice DEADLINE_MARGIN_MS ({margin_s} s)")
        if self.concurrency < 2:
            raise ValueError("the worker's concurrency must be at least 2, SQS's least for a Lambda source")
        clash = sorted(RESERVED & set(self.environment))
        if clash:
            raise ValueError(f"the worker's environment may not set {', '.join(clash)}: the service does")


class JobFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: JobsTable,
        queues: JobQueues,
        bus: events.IEventBus,
        bus_name: str,
        code: lambda_.Code,
        worker_options: WorkerOptions,
        handlers: str | None,
        job_id_key: secretsmanager.ISecret | None,
        reject_unknown_types: bool,
        caller_scope: CallerScope,
        api_concurrency: int | None = API_CONCURRENCY,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        tracing: bool = False,
    ) -> None:
        super().__init__(scope, id)
        environment = {"TABLE_NAME": table.table.table_name, "QUEUE_URL": queues.queue.queue_url, **TUNING}
        handled = {"JOB_HANDLERS": handlers} if handlers else {}
        announcing = {"EVENT_BUS_NAME": bus_name}
        # The secret keyed job ids are made with. The API function reads it
        # once per cold start (JOB_ID_KEY_SECRET names it), so its value is in
        # no template and no function configuration. Never rotated, never
        # replaced: a new secret gives every Idempotency-Key a new job id (a
        # retry across it would make a second job). A deployment that moves
        # this construct passes the secret it already has.
        self.job_id_key = job_id_key or secretsmanager.Secret(
            self,
            "JobIdKey",
            description="Keys the job ids derived from callers' Idempotency-Keys (JOB_ID_KEY)",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48, exclude_punctuation=True),
            removal_policy=removal_policy,
        )

        def function(
            name: str,
            handler: str,
            timeout: Duration,
            description: str,
            *,
            concurrency: int | None = None,
            settings: Mapping[str, str] | None = None,
            memory_mb: int = 512,
        ) -> lambda_.Function:
            log_group = logs.LogGroup(self, f"{name}Logs", retention=log_retention, removal_policy=removal_policy)
            role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
                )
            )
            return lambda_.Function(
                self,
                name,
                description=description,
                runtime=RUNTIME,
                architecture=ARCHITECTURE,
                code=code,
                handler=handler,
                timeout=timeout,
                memory_size=memory_mb,
                role=role,
                log_group=log_group,
                environment={**environment, **(settings or {})},
                reserved_concurrent_executions=concurrency,
                tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
            )

        # The API reads the handlers only to refuse unknown types at intake.
        refusing = {**handled, "REJECT_UNKNOWN_TYPES": "true"} if reject_unknown_types else {}
        self.api = function(
            "Api",
            "entrypoints.api.handler",
            API_TIMEOUT,
            "The jobs API: submit, list, read, cancel and re-run jobs",
            concurrency=api_concurrency,
            settings={
                # A cancel announces the job's end.
                **announcing,
                "JOB_ID_KEY_SECRET": self.job_id_key.secret_arn,
                "CALLER_SCOPE": CallerScope(caller_scope).value,
                **refusing,
            },
        )
        self.reconciler = function(
            "Reconciler",
            "entrypoints.reconciler.handler",
            RECONCILER_TIMEOUT,
            "Settles jobs left QUEUED or PROCESSING, and puts completion events that were missed",
            concurrency=RECONCILER_CONCURRENCY,
            settings=announcing,
        )
        self.worker = function(
            "Worker",
            "entrypoints.worker.handler",
            worker_options.timeout,
            "Runs each job's handler",
            concurrency=worker_options.concurrency,
            settings={**worker_options.environment, **announcing, **handled},
            memory_mb=worker_options.memory_mb,
        )

        table_arn, index_arn, queue_arn = table.table.table_arn, table.index_arn, queues.queue.queue_arn
        bus_arn = bus.event_bus_arn
        # ConditionCheckItem: while the job-id key is rotated, a keyed create
        # is a transaction that checks the key's id under the other key.
        # Query on the owners' index only (GET /jobs); PutEvents: a cancel's
        # completion event.
        _allow(
            self.api,
            {
                table_arn: ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:ConditionCheckItem"],
                table.owner_index_arn: ["dynamodb:Query"],
                queue_arn: ["sqs:SendMessage"],
                self.job_id_key.secret_arn: ["secretsmanager:GetSecretValue"],
                bus_arn: ["events:PutEvents"],
            },
        )
        _allow(
            self.reconciler,
            {table_arn: ["dynamodb:PutItem"], index_arn: ["dynamodb:Query"], bus_arn: ["events:PutEvents"]},
        )
        _allow(
            self.worker,
            {
                table_arn: ["dynamodb:PutItem", "dynamodb:GetItem"],
                queue_arn: [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                bus_arn: ["events:PutEvents"],
            },
        )
        for grant in worker_options.grants:
            self.worker.add_to_role_policy(grant)
        self.worker.add_event_source(
            SqsEventSource(
                queues.queue,
                batch_size=10,
                report_batch_item_failures=True,
                max_concurrency=worker_options.concurrency,
            )
        )


def _allow(function: lambda_.Function, grants: Mapping[str, list[str]]) -> None:
    for resource, actions in grants.items():
        function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
