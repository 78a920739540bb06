"""What keeping the payload on the job costs in write units, per job.

A re-run needs the payload, so the job item keeps it. The table's writes
are whole-item puts, so every save of a job writes its payload again,
and so does every write of the watch index (its projection is ALL). The
owners' index projects what a list shows, never the payload. This counts
each write of an accepted, processed job's life (create, confirm, claim,
complete, event marked), with and without the payload, by DynamoDB's
documented item-size rules:

- an item: the UTF-8 bytes of each attribute's name and value (a number
  about half its digits plus one, a boolean 1 byte, a map 3 bytes plus
  its entries and 1 byte each);
- an index entry: the projected attributes, the table's and the index's
  keys, plus 100 bytes;
- one write unit per KB, rounded up, for the table and for each index
  write (a key change is two index writes, a delete and a put).

    python -m bench.payload_writes
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from adapters.dynamodb_items import EXPIRY, OWNER_INDEX_ATTRIBUTES, Item, to_item
from bench.index_writes import AT, RETENTION, index_writes
from domain.job import Job

SIZES = (0, 1_000, 10_000, 100_000, 256_000)
INDEX_OVERHEAD = 100
OWNER_KEYS = ("owner", "created_at")


def value_size(value: dict[str, Any]) -> int:
    [(kind, inner)] = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "")) // 2 + 1
    if kind == "BOOL":
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(v) + 1 for name, v in inner.items())
    raise ValueError(kind)


def item_size(item: Item, names: Iterable[str] | None = None) -> int:
    chosen = item if names is None else {n: item[n] for n in names if n in item}
    return sum(len(name.encode()) + value_size(value) for name, value in chosen.items())


def write_units(size: int) -> int:
    return -(-size // 1024)


def owner_entry(item: Item) -> int:
    return item_size(item, ("job_id", *OWNER_KEYS, *OWNER_INDEX_ATTRIBUTES, EXPIRY)) + INDEX_OVERHEAD


def owner_writes(before: Item | None, after: Item) -> int:
    projected = ("job_id", *OWNER_KEYS, *OWNER_INDEX_ATTRIBUTES, EXPIRY)
    if before is not None and all(before.get(n) == after.get(n) for n in projected):
        return 0
    return 1


def life(payload_bytes: int, keep: bool) -> tuple[int, int, int]:
    """Write units of one job's life: the table's, the watch index's, the owners' index's."""
    # A payload of about ``payload_bytes`` bytes of JSON, as the message carries it.
    payload = json.dumps({"data": "x" * max(payload_bytes - 11, 0)}, separators=(",", ":"))
    later = AT + timedelta(seconds=1)
    job = Job.submitted(
        job_id="0" * 36,
        job_type="resize",
        request_hash="h" * 64,
        correlation_id="c" * 36,
        owner="arn:aws:sts::123456789012:assumed-role/orders-api",
        idempotency_key=None,
        at=AT,
        payload=payload if keep else None,
    )
    moves: list[Callable[[Job], Job]] = [
        lambda j: j.queued(enqueue_id="e" * 36, correlation_id="c" * 36, at=AT, lease_until=later),
        lambda j: j.sent(attempts=1, at=later),
        lambda j: j.processing(claim_id="x" * 36, at=later, until=later + timedelta(seconds=35)),
        lambda j: j.succeeded(at=later, result='{"url":"' + "u" * 60 + '"}'),
        lambda j: j.announced(),
    ]
    table = watch = owners = 0
    before: Item | None = None
    for move in moves:
        job = move(job)
        item = to_item(job, RETENTION)
        table += write_units(item_size(item))
        watch += index_writes(before, item) * write_units(item_size(item) + INDEX_OVERHEAD)
        owners += owner_writes(before, item) * write_units(owner_entry(item))
        before = item
    return table, watch, owners


def main() -> int:
    print(f"{'payload':>9} {'kept':>5} {'table':>6} {'watch idx':>9} {'owner idx':>9} {'total':>6}")
    for size in SIZES:
        for keep in (False, True):
            table, watch, owners = life(size, keep)
            total = table + watch + owners
            print(f"{size:>9} {'yes' if keep else 'no':>5} {table:>6} {watch:>9} {owners:>9} {total:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
