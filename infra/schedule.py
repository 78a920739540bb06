"""The reconciler's schedule."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

EVERY = Duration.minutes(5)


class ReconcilerSchedule(Construct):
    def __init__(self, scope: Construct, id: str, *, function: lambda_.IFunction) -> None:
        super().__init__(scope, id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Settle jobs left QUEUED without a confirmed send",
            schedule=events.Schedule.rate(EVERY),
            targets=[targets.LambdaFunction(function, retry_attempts=2)],
        )
