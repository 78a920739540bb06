"""The whole service as one stack."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.api import JobsRestApi
from infra.data import JobsTable
from infra.functions import WORKER_TIMEOUT, JobFunctions
from infra.messaging import JobQueues
from infra.monitoring import Alarms
from infra.schedule import ReconcilerSchedule


class JobIntakeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        removal_policy: RemovalPolicy,
        tracing: bool = False,
        alarm_email: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        self.tracing = tracing
        retention = logs.RetentionDays.ONE_MONTH
        self.jobs = JobsTable(self, "Data", removal_policy=removal_policy)
        self.queues = JobQueues(self, "Messaging", worker_timeout=WORKER_TIMEOUT)
        self.functions = JobFunctions(
            self,
            "Functions",
            table=self.jobs,
            queues=self.queues,
            log_retention=retention,
            removal_policy=removal_policy,
            tracing=tracing,
        )
        self.api = JobsRestApi(
            self,
            "Api",
            function=self.functions.api,
            log_retention=retention,
            removal_policy=removal_policy,
            tracing=tracing,
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

        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
        CfnOutput(self, "TableName", value=self.jobs.table.table_name)
        CfnOutput(self, "QueueUrl", value=self.queues.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.queues.dead_letters.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
