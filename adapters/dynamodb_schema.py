"""The jobs table's keys and the reconciler's sparse index.

One definition for every place that creates the table outside CDK (local
run, tests); the CDK stack's tests check that it declares the same.
"""

from __future__ import annotations

from typing import Any

from adapters.dynamodb_items import WATCH_INDEX


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
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": WATCH_INDEX,
                "KeySchema": [
                    {"AttributeName": "watch_partition", "KeyType": "HASH"},
                    {"AttributeName": "watched_since", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
