"""Alarms an operator needs: dead letters, rollbacks that failed, permanent
send failures, jobs failed because no worker took or finished them, and
5xx answers."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from adapters.emf_metrics import NAMESPACE
from domain.job import Watch
from domain.reconcile import SETTLED_METRIC

SERVICE = {"service": "job-intake"}


class Alarms(Construct):
    def __init__(self, scope: Construct, id: str, *, dead_letters: sqs.IQueue, rest_api: apigateway.RestApi) -> None:
        super().__init__(scope, id)
        period = Duration.minutes(5)

        def alarm(name: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
            return cloudwatch.Alarm(
                self,
                name,
                alarm_description=description,
                metric=metric,
                threshold=1,
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
        self.claims_exhausted = alarm(
            "ClaimsExhausted",
            service_metric("ClaimsExhausted"),
            "A job was claimed WORKER_MAX_CLAIMS times without finishing; the worker failed it",
        )
        self.server_errors = alarm(
            "Api5xx",
            rest_api.metric_server_error(period=period, statistic="Sum"),
            "The API answered 5xx",
        )
