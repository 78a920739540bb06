"""The one answer function, over every input it can be given: the stored
job (each state a request can find), what became of the request's own
write, and whether it met a failure of its own."""

from __future__ import annotations

import itertools
from datetime import timedelta

import attrs
import pytest

from domain.answers import RetryAfter, Write, answer, superseded
from domain.failures import MESSAGE_TOO_LONG, FailureKind, LastError, Service
from domain.job import Job
from domain.outcomes import (
    Accepted,
    ContentRejected,
    Failed,
    InFlight,
    KeyReused,
    Outcome,
    Unavailable,
    Unsettled,
)
from tests.fakes import EPOCH, submitted

NOW = EPOCH + timedelta(minutes=1)
RETRY_AFTER = RetryAfter(queue_s=2, store_s=7)
OURS = submitted("job-1").queued(
    enqueue_id="enq-ours", correlation_id="c", at=EPOCH, lease_until=NOW + timedelta(seconds=10)
)
THROTTLED = LastError("RequestThrottled", FailureKind.THROTTLED, "slow down", EPOCH, service=Service.QUEUE)
PERMANENT = LastError("AccessDenied", FailureKind.PERMANENT, "denied", EPOCH, service=Service.QUEUE)


def _other(lease_until: timedelta) -> Job:
    """Another request's episode of the same job."""
    return submitted("job-1").queued(
        enqueue_id="enq-other", correlation_id="c2", at=EPOCH, lease_until=NOW + lease_until
    )


STORED: dict[str, Job | None] = {
    "absent": None,
    "pending": OURS.rolled_back(error=THROTTLED, attempts=1, at=EPOCH),
    "pending-final": OURS.rolled_back(error=PERMANENT, attempts=1, at=EPOCH),
    "ours-unconfirmed": OURS,
    "in-flight": _other(timedelta(seconds=10)),
    "abandoned": _other(-timedelta(seconds=10)),
    "ours-accepted": OURS.sent(attempts=1, at=EPOCH),
    "other-accepted": _other(timedelta(0)).sent(attempts=1, at=EPOCH),
    "other-body": attrs.evolve(_other(timedelta(0)).sent(attempts=1, at=EPOCH), request_hash="another body"),
    "ours-taken": OURS.sent(attempts=1, at=EPOCH).processing(claim_id="claim", at=EPOCH, until=NOW),
}

# What each combination is answered: "+e" columns are a request that met a
# failure of its own (THROTTLED). "500?" is an unsettled 500; "go-on" is no
# answer (the request may start an episode).
GRID = """
                  LANDED  LANDED+e  NONE        NONE+e      REFUSED     REFUSED+e    UNKNOWN  UNKNOWN+e
absent            500?    500?      go-on       503-unnamed 409         503-unnamed  500?     500?
pending           503     503       go-on       503         409         503          500?     500?
pending-final     500     503       500-replay  500-replay  500-replay  500-replay   500?     500?
ours-unconfirmed  500?    500?      409         409         409         409          500?     500?
in-flight         500?    500?      409         409         409         409          500?     500?
abandoned         500?    500?      go-on       500?        409         500?         500?     500?
ours-accepted     202     202       202-replay  202-replay  202-replay  202-replay   500?     500?
other-accepted    500?    500?      202-replay  202-replay  202-replay  202-replay   500?     500?
other-body        500?    500?      422         422         422         422          500?     500?
ours-taken        202     202       202-replay  202-replay  202-replay  202-replay   500?     500?
"""


def grid() -> dict[tuple[str, Write, bool], str]:
    header, *rows = [line.split() for line in GRID.strip().splitlines()]
    columns = [(Write[name.removesuffix("+e")], name.endswith("+e")) for name in header]
    return {(row[0], *column): said for row in rows for column, said in zip(columns, row[1:], strict=True)}


def label(outcome: Outcome | None) -> str:
    match outcome:
        case None:
            return "go-on"
        case Accepted(replayed=replayed):
            return "202-replay" if replayed else "202"
        case InFlight():
            return "409"
        case KeyReused():
            return "422"
        case Unavailable(job_id=job_id):
            return "503" if job_id else "503-unnamed"
        case Failed(replayed=replayed):
            return "500-replay" if replayed else "500"
        case Unsettled():
            return "500?"
        case ContentRejected(too_large=too_large, replayed=replayed):
            return ("413" if too_large else "400") + ("-replay" if replayed else "")
    raise AssertionError(outcome)


def test_the_grid_covers_every_input() -> None:
    assert set(grid()) == set(itertools.product(STORED, Write, (False, True)))


@pytest.mark.parametrize(("stored", "write", "failed"), sorted(grid(), key=repr))
def test_every_input_is_answered_as_the_grid_says(stored: str, write: Write, failed: bool) -> None:
    outcome = answer(STORED[stored], OURS, write, THROTTLED if failed else None, now=NOW, retry_after=RETRY_AFTER)

    assert label(outcome) == grid()[(stored, write, failed)]


def test_a_request_names_its_own_failure_and_otherwise_the_stored_one() -> None:
    pending = STORED["pending"]
    assert pending is not None and pending.last_error is not None
    store_error = attrs.evolve(THROTTLED, code="ThrottlingException", service=Service.STORE)

    own = answer(pending, OURS, Write.LANDED, store_error, now=NOW, retry_after=RETRY_AFTER)
    stored = answer(pending, OURS, Write.LANDED, None, now=NOW, retry_after=RETRY_AFTER)

    assert own == Unavailable("job-1", store_error, 7)  # the store's Retry-After
    assert stored == Unavailable("job-1", pending.last_error, 2)  # the queue's


def test_an_unsettled_answer_names_the_failure_or_says_the_job_was_superseded() -> None:
    moved = STORED["other-accepted"]

    assert answer(moved, OURS, Write.UNKNOWN, None, now=NOW, retry_after=RETRY_AFTER) == Unsettled(
        "job-1", superseded(NOW)
    )

    assert answer(moved, OURS, Write.LANDED, THROTTLED, now=NOW, retry_after=RETRY_AFTER) == Unsettled(
        "job-1", THROTTLED
    )
    assert answer(moved, OURS, Write.LANDED, None, now=NOW, retry_after=RETRY_AFTER) == Unsettled(
        "job-1", superseded(NOW)
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PERMANENT, Failed(None, PERMANENT)),
        (
            attrs.evolve(PERMANENT, kind=FailureKind.CLIENT_CONTENT, code=MESSAGE_TOO_LONG),
            ContentRejected(
                None, attrs.evolve(PERMANENT, kind=FailureKind.CLIENT_CONTENT, code=MESSAGE_TOO_LONG), too_large=True
            ),
        ),
        (
            attrs.evolve(PERMANENT, kind=FailureKind.CLIENT_CONTENT, code="InvalidMessageContents"),
            ContentRejected(
                None,
                attrs.evolve(PERMANENT, kind=FailureKind.CLIENT_CONTENT, code="InvalidMessageContents"),
                too_large=False,
            ),
        ),
        (
            attrs.evolve(THROTTLED, kind=FailureKind.DEADLINE),
            Unavailable(None, attrs.evolve(THROTTLED, kind=FailureKind.DEADLINE), 2),
        ),
    ],
)
def test_a_failure_is_answered_by_its_kind(error: LastError, expected: Outcome) -> None:
    assert answer(None, OURS, Write.REFUSED, error, now=NOW, retry_after=RETRY_AFTER) == expected


def test_a_write_that_lost_to_another_actor_names_the_job_in_its_409() -> None:
    for stored in (None, STORED["pending"], STORED["abandoned"]):
        assert answer(stored, OURS, Write.REFUSED, None, now=NOW, retry_after=RETRY_AFTER) == InFlight("job-1")
