"""cdk-nag findings this design accepts, each with its reason.

Anything not acknowledged here fails the synth.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations

from infra.stack import JobIntakeStack

PUSH_TO_LOGS = "arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def acknowledge(stack: JobIntakeStack) -> None:
    rest_api = stack.api.rest_api
    Validations.of(rest_api.node.find_child("CloudWatchRole")).acknowledge(
        Acknowledgment(
            id=f"AwsSolutions::AwsSolutions-IAM4[Policy::{PUSH_TO_LOGS}]",
            reason="API Gateway's account-level logging role: AWS publishes this managed policy for exactly "
            "that role, and it grants only writes to CloudWatch Logs.",
        )
    )
    unauthenticated = (
        "The service's contract is an unauthenticated HTTP API (job ids are unguessable UUIDs, the stage is "
        "throttled). A deployment facing the internet puts an IAM, Cognito or Lambda authorizer in front; which "
        "one is the deployer's choice, not the service's."
    )
    Validations.of(rest_api).acknowledge(
        Acknowledgment(id="AwsSolutions::AwsSolutions-APIG4", reason=unauthenticated),
        Acknowledgment(id="AwsSolutions::AwsSolutions-COG4", reason=unauthenticated),
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-APIG3",
            reason="A WAF web ACL is an account-level decision with its own cost; the stage's throttling and "
            "the request validator bound abuse here, and a web ACL can be associated without changing this stack.",
        ),
    )
