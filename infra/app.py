"""The CDK app: ``cdk synth`` / ``cdk deploy`` run ``python -m infra.app``.

Context (``-c name=value``) or environment chooses where it goes:
  account         default 123456789012 (moto's default account; use yours)
  region          default us-east-1
  removal_policy  retain (default) or destroy, for the table and log groups
  alarm_email     an address the alarm topic mails (none by default)
  tracing         false (default) or true: X-Ray active tracing on the
                  functions and the API stage (billed per trace recorded
                  and retrieved, beyond X-Ray's free tier)
"""

from __future__ import annotations

import os

from aws_cdk import App, Environment, RemovalPolicy, Validations
from cdk_nag import AwsSolutionsChecks

from infra.stack import JobIntakeStack

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
STACK_NAME = "JobIntake"


def build(app: App) -> JobIntakeStack:
    account = app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT") or DEFAULT_ACCOUNT
    region = app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION
    removal = app.node.try_get_context("removal_policy") or "retain"
    if removal not in ("retain", "destroy"):
        raise ValueError(f"removal_policy must be retain or destroy, not {removal!r}")
    tracing = str(app.node.try_get_context("tracing") or "false").lower()
    if tracing not in ("true", "false"):
        raise ValueError(f"tracing must be true or false, not {tracing!r}")
    stack = JobIntakeStack(
        app,
        STACK_NAME,
        env=Environment(account=str(account), region=str(region)),
        removal_policy=RemovalPolicy.DESTROY if removal == "destroy" else RemovalPolicy.RETAIN,
        tracing=tracing == "true",
        alarm_email=app.node.try_get_context("alarm_email") or None,
        description="Job intake: DynamoDB + SQS with graceful send failures",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> None:
    app = App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
