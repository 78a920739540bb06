"""What the watch index costs per job: index writes for each transition of
a job's life, counted on the items the DynamoDB adapter writes.

DynamoDB's rule for a global secondary index: a write that gives an item
the index's keys adds one index write; one that changes a key value costs
two (delete and put); one that keeps the keys but changes a projected
attribute (the projection is ALL) costs one; one that removes the keys
costs one. Each is one write unit per KB of the item as projected.

    python -m bench.index_writes
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from adapters.dynamodb_items import Item, to_item
from domain.failures import FailureKind, LastError
from domain.job import Job, Retention

KEYS = ("watch_partition", "watched_since")
AT = datetime(2026, 1, 1, tzinfo=UTC)
RETENTION = Retention(timedelta(days=30))


def index_writes(before: Item | None, after: Item) -> int:
    had = before is not None and all(k in before for k in KEYS)
    has = all(k in after for k in KEYS)
    if not had:
        return 1 if has else 0
    assert before is not None
    if not has:
        return 1
    if any(before[k] != after[k] for k in KEYS):
        return 2
    return 1 if before != after else 0


def units(item: Item) -> int:
    """Write units of one item (1 KB each), from the attribute names and values' text."""
    size = sum(len(name) + len(str(value)) for name, value in item.items())
    return -(-size // 1024)


def life(moves: list[tuple[str, Callable[[Job], Job]]]) -> list[tuple[str, int, int]]:
    job = Job.submitted(
        job_id="0" * 36,
        job_type="resize",
        request_hash="h" * 64,
        correlation_id="c" * 36,
        owner="owner-1",
        idempotency_key=None,
        at=AT,
    )
    rows, before = [], None
    for name, move in moves:
        job = move(job)
        item = to_item(job, RETENTION)
        rows.append((name, units(item), index_writes(before, item) * units(item)))
        before = item
    return rows


def main() -> int:
    later = AT + timedelta(seconds=1)
    accepted = [
        ("create QUEUED", lambda j: j.queued(enqueue_id="e" * 36, correlation_id="c" * 36, at=AT, lease_until=later)),
        ("confirm the send", lambda j: j.sent(attempts=1, at=later)),
        ("claim", lambda j: j.processing(claim_id="x" * 36, at=later, until=later + timedelta(seconds=35))),
        ("complete", lambda j: j.succeeded(at=later, result='{"url":"' + "u" * 60 + '"}')),
        ("event put, marked", lambda j: j.announced()),
    ]
    error = LastError("ServiceUnavailable", FailureKind.AMBIGUOUS, "x" * 40, AT)
    refused = [accepted[0], ("roll back", lambda j: j.rolled_back(error=error, attempts=4, at=later))]
    for title, moves in (("accepted and processed", accepted), ("send failed, rolled back (503)", refused)):
        rows = life(moves)
        print(f"\n{title}:")
        print(f"  {'write':<18} {'table WCU':>9} {'index WCU':>9}")
        for name, table, index in rows:
            print(f"  {name:<18} {table:>9} {index:>9}")
        print(f"  {'total':<18} {sum(r[1] for r in rows):>9} {sum(r[2] for r in rows):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
