"""Several threads submitting at once against moto server, with shared and
distinct Idempotency-Keys: one job per key, no job lost, 409 only while the
key's first request is in flight."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from tests.events import body_of, submit
from tests.integration.conftest import Aws

THREADS = 8
SHARED_KEYS = ["shared-a", "shared-b"]


def test_concurrent_submissions_make_one_job_per_key_and_lose_none(container: Container, aws: Aws) -> None:
    api = container.jobs_api()
    start = threading.Barrier(THREADS)

    def client(n: int) -> list[tuple[str, dict[str, Any]]]:
        start.wait()
        answers = []
        for round_ in range(3):
            key = SHARED_KEYS[(n + round_) % 2] if n % 2 == 0 else f"own-{n}-{round_}"
            answers.append((key, api(submit({"k": key}, headers={"Idempotency-Key": key}), LocalContext(30_000))))
        return answers

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [a for batch in pool.map(client, range(THREADS)) for a in batch]

    items = {item["job_id"]["S"]: item for item in aws.items()}
    messages = [json.loads(m["Body"]) for m in aws.messages()]
    by_key: dict[str, set[str]] = {}
    for key, response in answers:
        assert response["statusCode"] in (202, 409), response
        by_key.setdefault(key, set()).add(body_of(response)["job_id"])
    assert all(len(job_ids) == 1 for job_ids in by_key.values())  # one job per key
    assert len(items) == len(by_key)  # and no other
    for _key, response in answers:
        if response["statusCode"] == 202:
            job_id = body_of(response)["job_id"]
            item = items[job_id]  # no accepted job lost
            assert item["status"]["S"] == "QUEUED" and "unconfirmed_since" not in item
            assert [m for m in messages if m["job_id"] == job_id and m["enqueue_id"] == item["enqueue_id"]["S"]]
    own = [response for key, response in answers if key.startswith("own-")]
    assert all(response["statusCode"] == 202 for response in own)  # a key nobody shares is never 409
    assert all(
        any(r["statusCode"] == 202 for k, r in answers if k == key) for key in SHARED_KEYS
    )  # every shared key was accepted by someone
