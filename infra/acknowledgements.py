"""cdk-nag findings this design accepts, each with its reason.

Anything not acknowledged here fails the synth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations

if TYPE_CHECKING:
    from infra.job_service import JobService

PUSH_TO_LOGS = "arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def acknowledge(service: JobService) -> None:
    """The service's own findings, accepted on its own resources."""
    rest_api = service.api.rest_api
    Validations.of(rest_api.node.find_child("CloudWatchRole")).acknowledge(
        Acknowledgment(
            id=f"AwsSolutions::AwsSolutions-IAM4[Policy::{PUSH_TO_LOGS}]",
            reason="API Gateway's account-level logging role: AWS publishes this managed policy for exactly "
            "that role, and it grants only writes to CloudWatch Logs.",
        )
    )
    if service.tracing:
        for function in (service.functions.api, service.functions.worker, service.functions.reconciler):
            Validations.of(function.role.node.find_child("DefaultPolicy")).acknowledge(  # type: ignore[union-attr]
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                    reason="Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no "
                    "resource-level permissions, so X-Ray's own policy names every resource.",
                )
            )
    Validations.of(service.functions.job_id_key).acknowledge(  # a secret passed in is acknowledged where it is made
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-SMG4",
            reason="The secret keys the job ids derived from Idempotency-Keys. Secrets Manager's one-step "
            "rotation would re-key environments at different times, and a client retrying across it could make a "
            "second job; it is rotated in two phases by the operator instead (README). Of the stack's roles only "
            "the API function's may read it, once per cold start; a leak lets a caller compute job ids, which still "
            "answer 404 to anyone but their owner.",
        )
    )
    Validations.of(rest_api).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-COG4",
            reason="Every method requires IAM authorization (SigV4): the service's callers are applications "
            "with AWS credentials, not end users. A team that serves users puts a Cognito or Lambda authorizer "
            "in front instead, and the handler takes its principal as the caller.",
        ),
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-APIG3",
            reason="A WAF web ACL is an account-level decision with its own cost; the stage's throttling and "
            "the request validator bound abuse here, and a web ACL can be associated without changing this stack.",
        ),
    )
