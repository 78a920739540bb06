"""A team's CDK app that brings its own handlers to the job service.

    JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 node_modules/.bin/cdk synth \\
        --app "python -m examples.cdk_app.app"

The service comes whole from ``infra.job_service.JobService``; the app adds
its bucket, names its handlers and what the worker may do with the bucket,
and runs cdk-nag's AwsSolutions checks over both.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Acknowledgment, App, Duration, Environment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from infra.functions import WorkerOptions
from infra.job_service import HandlerCode, JobService
from infra.stack import outputs

HANDLERS = Path(__file__).resolve().parent / "handlers"


def build(app: App) -> Stack:
    stack = Stack(app, "Thumbnails", env=Environment(account="123456789012", region="eu-west-1"))
    bucket = s3.Bucket(
        stack,
        "Thumbnails",
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        removal_policy=RemovalPolicy.RETAIN,
    )
    Validations.of(bucket).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-S1",
            reason="An example's bucket: its access logs would need a bucket of their own.",
        )
    )
    service = JobService(
        stack,
        "Jobs",
        handlers=HandlerCode(source=HANDLERS, registry="thumbnails.handlers:registry"),
        worker=WorkerOptions(
            timeout=Duration.minutes(2),
            memory_mb=1024,
            environment={"THUMBNAIL_BUCKET": bucket.bucket_name},
            concurrency=4,
            grants=[
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject"], resources=[bucket.arn_for_objects("thumbnails/*")]
                )
            ],
        ),
        reject_unknown_types=True,
    )
    bucket_id = stack.get_logical_id(bucket.node.default_child)  # type: ignore[arg-type]
    Validations.of(service.worker_policy).acknowledge(
        Acknowledgment(
            id=f"AwsSolutions::AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/thumbnails/*]",
            reason="The worker reads and writes the thumbnails it makes, each under its own key: one prefix "
            "of one bucket, with no other action on it.",
        )
    )
    outputs(stack, service)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


if __name__ == "__main__":
    app = App()
    build(app)
    app.synth()
