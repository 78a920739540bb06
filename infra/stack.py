"""The project's own stack: the job service with no handlers of its own
(every job succeeds at once, with no result), and its outputs."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from entrypoints.api_gateway import CallerScope
from infra.api import Invokers
from infra.functions import API_CONCURRENCY
from infra.job_service import HandlerCode, JobService
from infra.limits import ClientApp


class JobIntakeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        removal_policy: RemovalPolicy,
        tracing: bool = False,
        alarm_email: str | None = None,
        handlers: HandlerCode | None = None,
        caller_scope: CallerScope = CallerScope.AUTO,
        invokers: Invokers | None = None,
        api_concurrency: int | None = API_CONCURRENCY,
        client_apps: tuple[ClientApp, ...] = (),
        client_keys_required: bool = True,
        job_id_key_arn: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        job_id_key = (
            secretsmanager.Secret.from_secret_complete_arn(self, "JobIdKey", job_id_key_arn) if job_id_key_arn else None
        )
        self.service = JobService(
            self,
            "Service",
            handlers=handlers,
            removal_policy=removal_policy,
            tracing=tracing,
            alarm_email=alarm_email,
            caller_scope=caller_scope,
            invokers=invokers,
            api_concurrency=api_concurrency,
            client_apps=client_apps,
            client_keys_required=client_keys_required,
            job_id_key=job_id_key,
        )
        outputs(self, self.service)


def outputs(stack: Stack, service: JobService) -> None:
    """What a deployment reads back, and the bus other stacks subscribe to."""
    CfnOutput(stack, "ApiUrl", value=service.api.rest_api.url)
    CfnOutput(stack, "TableName", value=service.jobs.table.table_name)
    CfnOutput(stack, "QueueUrl", value=service.queues.queue.queue_url)
    CfnOutput(stack, "DeadLetterQueueUrl", value=service.queues.dead_letters.queue_url)
    CfnOutput(stack, "AlarmTopicArn", value=service.monitoring.topic.topic_arn)
    CfnOutput(stack, "EventBusName", value=service.bus_name, export_name=f"{stack.stack_name}-EventBusName")
    CfnOutput(stack, "EventBusArn", value=service.bus.event_bus_arn, export_name=f"{stack.stack_name}-EventBusArn")
    # What a rotation of the job-id key names (README, "Rotating the job-id key").
    CfnOutput(stack, "ApiFunctionName", value=service.functions.api.function_name)
    CfnOutput(stack, "JobIdKeySecretArn", value=service.functions.job_id_key.secret_arn)
    for name, key in service.api.client_limits.keys.items():
        # The id, never the value: `aws apigateway get-api-key --include-value --api-key <id>`.
        CfnOutput(stack, f"ApiKeyId{name.capitalize()}", value=key.key_id)
