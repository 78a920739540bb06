"""The chaos report's figures, from requests made up to show them."""

from __future__ import annotations

import pytest

from chaos.report import Request, recovery, shares_by_fault


def request(status: int, *faults: str) -> Request:
    return Request(key=None, job_id=None, status=status, faults=faults, settled=True, latency_ms=1.0)


def test_each_fault_shows_the_share_of_its_own_requests_per_answer() -> None:
    requests = [
        request(202),
        request(202),
        request(503, "throttled"),
        request(202, "throttled"),
        request(202, "throttled"),
        request(202, "throttled"),
        request(0, "crash", "throttled"),
    ]

    shares = shares_by_fault(requests)

    assert shares == {
        "crash": {"crashed": 1.0},
        "none": {"202": 1.0},
        "throttled": {"202": 0.6, "503": 0.2, "crashed": 0.2},
    }


def test_the_recovery_work_is_named_for_a_reader_and_missing_counts_are_zero() -> None:
    work = recovery({"SendRetries": 7, "Rollbacks": 2, "Unrelated": 9}, reconciler_settled=3)

    assert work == {
        "send retries": 7,
        "rollbacks": 2,
        "rollbacks that failed": 0,
        "handler retries": 0,
        "events put again": 0,
        "settled by the reconciler": 3,
    }


@pytest.mark.parametrize("statuses", [[202], [500, 503, 409]])
def test_shares_of_one_fault_add_up_to_one(statuses: list[int]) -> None:
    shares = shares_by_fault([request(s, "lost") for s in statuses])
    assert sum(shares["lost"].values()) == pytest.approx(1)
