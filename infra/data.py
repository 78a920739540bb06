"""The jobs table, its expiry and the reconciler's sparse index."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from adapters.dynamodb_items import EXPIRY, OWNER_INDEX, OWNER_INDEX_ATTRIBUTES, WATCH_INDEX


class JobsTable(Construct):
    def __init__(self, scope: Construct, id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="job_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Settled jobs carry an expiry (JOB_RETENTION_DAYS); DynamoDB
            # deletes them some time after it, and the service treats them
            # as gone from the moment it passes.
            time_to_live_attribute=EXPIRY,
            removal_policy=removal_policy,
        )
        # Sparse: only the jobs the reconciler watches (QUEUED, PROCESSING) carry these keys.
        self.table.add_global_secondary_index(
            index_name=WATCH_INDEX,
            partition_key=dynamodb.Attribute(name="watch_partition", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="watched_since", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # GET /jobs: each caller's jobs, newest first, holding only what a
        # list shows (not the payload nor the result, which every save
        # would otherwise copy into it).
        self.table.add_global_secondary_index(
            index_name=OWNER_INDEX,
            partition_key=dynamodb.Attribute(name="owner", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=[*OWNER_INDEX_ATTRIBUTES, EXPIRY],
        )

    @property
    def index_arn(self) -> str:
        return f"{self.table.table_arn}/index/{WATCH_INDEX}"

    @property
    def owner_index_arn(self) -> str:
        return f"{self.table.table_arn}/index/{OWNER_INDEX}"
