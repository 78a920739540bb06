"""The three Lambda functions, each with its own role and log group.

Roles are written out action by action: the API may put and get items and
send messages, nothing more (no Query, no Scan, no DeleteItem, no
GetQueueAttributes); no statement anywhere has a wildcard action.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct

from infra.bundling import lambda_code
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
    "WORKER_MAX_CLAIMS": "3",
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
# Above the send budget plus the margin (tests/infra checks the sum), and
# below API Gateway's 29 s integration timeout.
API_TIMEOUT = Duration.seconds(20)
WORKER_TIMEOUT = Duration.seconds(30)
RECONCILER_TIMEOUT = Duration.seconds(60)


class JobFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: JobsTable,
        queues: JobQueues,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        tracing: bool = False,
    ) -> None:
        super().__init__(scope, id)
        code = lambda_code(RUNTIME, ARCHITECTURE)
        environment = {"TABLE_NAME": table.table.table_name, "QUEUE_URL": queues.queue.queue_url, **TUNING}
        # The secret keyed job ids are made with. CloudFormation puts its value
        # in the API function's environment at deploy time: no call at cold
        # start, and never in the template. Never rotated: a new secret gives
        # every Idempotency-Key a new job id (a retry across it would make a
        # second job).
        self.job_id_key = secretsmanager.Secret(
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
            secrets: Mapping[str, str] | None = None,
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
                memory_size=512,
                role=role,
                log_group=log_group,
                environment={**environment, **(secrets or {})},
                reserved_concurrent_executions=concurrency,
                tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
            )

        self.api = function(
            "Api",
            "entrypoints.api.handler",
            API_TIMEOUT,
            "POST /jobs and GET /jobs/{job_id}",
            secrets={"JOB_ID_KEY": self.job_id_key.secret_value.unsafe_unwrap()},
        )
        self.reconciler = function(
            "Reconciler",
            "entrypoints.reconciler.handler",
            RECONCILER_TIMEOUT,
            "Settles jobs left QUEUED or PROCESSING",
            concurrency=RECONCILER_CONCURRENCY,
        )
        self.worker = function(
            "Worker",
            "entrypoints.worker.handler",
            WORKER_TIMEOUT,
            "Reference job consumer",
            concurrency=WORKER_CONCURRENCY,
        )

        table_arn, index_arn, queue_arn = table.table.table_arn, table.index_arn, queues.queue.queue_arn
        _allow(self.api, {table_arn: ["dynamodb:PutItem", "dynamodb:GetItem"], queue_arn: ["sqs:SendMessage"]})
        _allow(self.reconciler, {table_arn: ["dynamodb:PutItem"], index_arn: ["dynamodb:Query"]})
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
            },
        )
        self.worker.add_event_source(
            SqsEventSource(
                queues.queue, batch_size=10, report_batch_item_failures=True, max_concurrency=WORKER_CONCURRENCY
            )
        )


def _allow(function: lambda_.Function, grants: Mapping[str, list[str]]) -> None:
    for resource, actions in grants.items():
        function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
