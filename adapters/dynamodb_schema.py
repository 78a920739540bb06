"""The jobs table's keys, the reconciler's sparse index and the owners' index.

One definition for every place that creates the table outside CDK (local
run, tests); the CDK stack's tests check that it declares the same.
"""

from __future__ import annotations

from typing import Any

from adapters.dynamodb_items import EXPIRY, OWNER_INDEX, OWNER_INDEX_ATTRIBUTES, WATCH_INDEX


def create_table_request(table_name: str) -> dict[str, Any]:
    """Arguments for ``create_table``: on-demand, keyed by job_id."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "job_id", "AttributeType": "S"},
            {"AttributeName": "watch_partition", "AttributeType": "S"},
            {"AttributeName": "watched_since", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": WATCH_INDEX,
                "KeySchema": [
                    {"AttributeName": "watch_partition", "KeyType": "HASH"},
                    {"AttributeName": "watched_since", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": OWNER_INDEX,
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": [*OWNER_INDEX_ATTRIBUTES, EXPIRY],
                },
            },
        ],
    }
