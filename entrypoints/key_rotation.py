"""Whether a rotation of the job-id key may take its last step.

    python -m entrypoints.key_rotation --table TABLE --secret SECRET_ARN

The last step (the new key alone in the secret) is safe only when no job
made with the previous key is live: in flight, or settled and not yet
expired. A live one could be re-driven by a retry of its key, and an
environment without the previous key would create a second job for that
key. Jobs do not record the key their id was made with, so this scans the
table and recomputes each keyed job's id under the previous key.

Exit status: 0 when no such job is live (take the last step), 1 when some
are (wait, and run it again), 2 when the secret is not in a rotation's
second phase. AWS credentials, region and endpoint as boto3 reads them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import boto3

from adapters.dynamodb_items import EXPIRY, expired
from adapters.runtime import UuidIds
from adapters.secret_key import JobIdKeys, read_secret_string

SHOWN = 10


def live_under_previous_key(dynamodb: Any, table: str, previous: str, now: datetime) -> list[str]:
    """The ids of the keyed jobs made with ``previous`` that have not expired."""
    ids = UuidIds(previous)
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        ConsistentRead=True,
        ProjectionExpression="job_id, #owner, idempotency_key, #expiry",
        ExpressionAttributeNames={"#owner": "owner", "#expiry": EXPIRY},
        FilterExpression="attribute_exists(idempotency_key)",
    )
    live = []
    for page in pages:
        for item in page.get("Items", []):
            made = ids.job_id_for_key(item.get("owner", {}).get("S", ""), item["idempotency_key"]["S"])
            if made == item["job_id"]["S"] and not expired(item, now):
                live.append(made)
    return live


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m entrypoints.key_rotation",
        description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 take the last step; 1 wait (jobs made with the previous key are live); "
        "2 the secret is not in a rotation's second phase.",
    )
    parser.add_argument("--table", required=True, help="the jobs table (the stack's TableName output)")
    parser.add_argument("--secret", required=True, help="the job-id key's secret (the JobIdKeySecretArn output)")
    args = parser.parse_args(argv)
    source = f"the secret {args.secret}"
    keys = JobIdKeys.parse(read_secret_string(boto3.client("secretsmanager"), args.secret), source)
    if keys.phase != 2 or keys.other is None:
        print(f'{source} is not in a rotation\'s second phase ({{"current": new, "previous": old}})')
        return 2
    live = live_under_previous_key(boto3.client("dynamodb"), args.table, keys.other, datetime.now(UTC))
    if not live:
        print("no job made with the previous key is live: put the current key alone in the secret")
        return 0
    print(f"{len(live)} job(s) made with the previous key are live; wait, and run this again. Some of them:")
    for job_id in live[:SHOWN]:
        print(f"  {job_id}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
