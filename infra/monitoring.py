"""What an operator watches: alarms on everything that means a job may
stall or a client is being refused (dead letters, a queue not drained,
rollbacks that failed, permanent send failures, jobs failed because no
worker took or finished them, functions failing or throttled, 5xx
answers), and one dashboard with the service's metrics beside them."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from adapters.emf_metrics import NAMESPACE
from domain.job import Watch
from domain.reconcile import SETTLED_METRIC

SERVICE = {"service": "job-intake"}


# A healthy worker takes a message within seconds; one this old means the
# workers are down, throttled or failing on it again and again.
OLDEST_MESSAGE_AGE = Duration.minutes(15)
# EMF metrics of the service, as the dashboard shows them.
SERVICE_METRICS = {
    "Requests": ["JobsAccepted", "SendRetries", "Rollbacks", "RollbackFailures", "PermanentFailures"],
    "Workers and reconciler": [
        "JobsProcessed",
        "MessagesSkipped",
        "ClaimsExhausted",
        "JobsReconciled",
        "EventPutFailures",
        *SETTLED_METRIC.values(),
    ],
}
# Counted per job type as well (EMF's second dimension set), and graphed by it.
BY_JOB_TYPE = ("JobsSucceeded", "JobsFailed", "StepFailures", "JobRetries")


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        queue: sqs.IQueue,
        dead_letters: sqs.IQueue,
        rest_api: apigateway.RestApi,
        api: lambda_.Function,
        worker: lambda_.Function,
        reconciler: lambda_.Function,
        notify: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        period = Duration.minutes(5)
        # Every alarm tells this topic; subscribe whatever pages the team
        # (``-c alarm_email=...`` subscribes an address at deploy time).
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Job intake alarms",
            enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
        )
        if notify:
            self.topic.add_subscription(subscriptions.EmailSubscription(notify))

        stack = Stack.of(self)

        def alarm(name: str, metric: cloudwatch.IMetric, description: str, threshold: float = 1) -> cloudwatch.Alarm:
            return cloudwatch.Alarm(
                self,
                name,
                # Named, so that the dashboard can show it by its ARN without
                # a reference (which moto's CloudFormation cannot resolve),
                # and an operator reads which stack it belongs to.
                alarm_name=f"{stack.stack_name}-{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )

        def service_metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE, metric_name=name, dimensions_map=SERVICE, statistic="Sum", period=period
            )

        self.dead_letters = alarm(
            "DeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
            "Messages the worker could not handle are in the dead-letter queue",
        )
        self.rollback_failures = alarm(
            "RollbackFailures",
            service_metric("RollbackFailures"),
            "A rollback could not be written; the reconciler will settle the job",
        )
        self.permanent_failures = alarm(
            "PermanentFailures",
            service_metric("PermanentFailures"),
            "SQS refused a send for good (queue missing, access or KMS denied): configuration needs a fix",
        )
        self.undelivered = alarm(
            "Undelivered",
            service_metric(SETTLED_METRIC[Watch.DELIVERY]),
            "A job's message left the queue with no worker taking it (expired, purged or dead-lettered); "
            "the reconciler failed the job",
        )
        self.unfinished = alarm(
            "Unfinished",
            service_metric(SETTLED_METRIC[Watch.COMPLETION]),
            "A worker stopped holding a job and no delivery took it over; the reconciler failed the job",
        )
        self.failed_jobs = alarm(
            "FailedJobs",
            service_metric("JobsFailed"),
            "A job ended FAILED (its handler failed for good or ran out of attempts, or no worker finished it); "
            "the dashboard shows which job types",
        )
        self.claims_exhausted = alarm(
            "ClaimsExhausted",
            service_metric("ClaimsExhausted"),
            "A job was claimed JOB_MAX_ATTEMPTS times without finishing; the worker failed it",
        )
        self.server_errors = alarm(
            "Api5xx",
            rest_api.metric_server_error(period=period, statistic="Sum"),
            "The API answered 5xx",
        )
        self.oldest_message = alarm(
            "OldestMessage",
            queue.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum"),
            f"A job's message has waited over {OLDEST_MESSAGE_AGE.to_minutes()} minutes: the workers are not taking it",
            threshold=OLDEST_MESSAGE_AGE.to_seconds(),
        )
        # The reconciler's schedule retries a failed run twice, then drops
        # it: errors must be seen, not left to the next run.
        self.function_alarms = [
            alarm(
                f"{name}{kind}",
                metric(period=period, statistic="Sum"),
                f"The {name.lower()} function {what}",
            )
            for name, function in (("Worker", worker), ("Reconciler", reconciler))
            for kind, metric, what in (
                ("Errors", function.metric_errors, "failed (an invocation raised or timed out)"),
                ("Throttles", function.metric_throttles, "was throttled: its reserved concurrency is all in use"),
            )
        ]
        self.api_throttles = alarm(
            "ApiThrottles",
            api.metric_throttles(period=period, statistic="Sum"),
            "The API function was throttled: requests got 5xx from API Gateway (the account's concurrency ran out)",
        )
        self.all: list[cloudwatch.Alarm] = [
            self.dead_letters,
            self.oldest_message,
            self.rollback_failures,
            self.permanent_failures,
            self.undelivered,
            self.unfinished,
            self.failed_jobs,
            self.claims_exhausted,
            self.server_errors,
            self.api_throttles,
            *self.function_alarms,
        ]

        for each in self.all:
            each.add_alarm_action(actions.SnsAction(self.topic))

        dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"{Stack.of(self).stack_name}-jobs", default_interval=Duration.hours(3)
        )
        by_name = [
            cloudwatch.Alarm.from_alarm_arn(
                self,
                f"Shown{a.node.id}",
                stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=f"{stack.stack_name}-{a.node.id}",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
            )
            for a in self.all
        ]
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=by_name, width=24))
        dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=title, left=[service_metric(name) for name in names], width=12, stacked=False
                )
                for title, names in SERVICE_METRICS.items()
            )
        )
        dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=f"{name} by job type",
                    left=[
                        cloudwatch.MathExpression(
                            expression=f"SEARCH('{{{NAMESPACE},service,job_type}} MetricName=\"{name}\"', 'Sum', 300)",
                            label="",
                            period=period,
                        )
                    ],
                    width=6,
                )
                for name in BY_JOB_TYPE
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
                    queue.metric_approximate_number_of_messages_not_visible(period=period, statistic="Maximum"),
                    dead_letters.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Age of the oldest message (s)",
                left=[queue.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum")],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=OLDEST_MESSAGE_AGE.to_seconds(), label="alarm")
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API",
                left=[
                    rest_api.metric_count(period=period, statistic="Sum"),
                    rest_api.metric_client_error(period=period, statistic="Sum"),
                    rest_api.metric_server_error(period=period, statistic="Sum"),
                ],
                right=[rest_api.metric_latency(period=period, statistic="p99")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Functions: errors and throttles",
                left=[
                    metric(period=period, statistic="Sum")
                    for function in (api, worker, reconciler)
                    for metric in (function.metric_errors, function.metric_throttles)
                ],
                width=12,
            ),
        )
