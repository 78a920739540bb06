"""A submission is refused exactly when the message it becomes would not
fit in SQS: measured on a real message body, with real ids and time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from domain.submission import SQS_MAX_MESSAGE_BYTES, InvalidSubmission, Submission


def submission(payload_chars: int, correlation_id: str = "corr-1") -> Submission:
    return Submission(
        job_type="resize", payload={"blob": "x" * payload_chars}, correlation_id=correlation_id, caller="c"
    )


def sent_size(job: Submission) -> int:
    """What SQS counts: the body as sent, plus the correlation_id attribute
    (its name, its type, its value)."""
    body = job.message_body(
        job_id=str(uuid.uuid4()),
        enqueue_id=str(uuid.uuid4()),
        submitted_at=datetime(2026, 11, 28, 19, 3, 58, 123456, tzinfo=UTC),
    )
    return len(body.encode()) + len("correlation_id") + len("String") + len(job.correlation_id)


@pytest.mark.parametrize("correlation_id", ["c", "a-correlation-id-of-some-length"])
def test_the_largest_payload_accepted_is_the_largest_whose_message_fits(correlation_id: str) -> None:
    fits = SQS_MAX_MESSAGE_BYTES - sent_size(submission(0, correlation_id))

    submission(fits, correlation_id).check_fits_in_a_message()
    assert sent_size(submission(fits, correlation_id)) == SQS_MAX_MESSAGE_BYTES
    with pytest.raises(InvalidSubmission) as refused:
        submission(fits + 1, correlation_id).check_fits_in_a_message()
    assert refused.value.too_large
    assert refused.value.detail == (
        f"the job's message would be {SQS_MAX_MESSAGE_BYTES + 1} bytes; SQS takes at most {SQS_MAX_MESSAGE_BYTES}"
    )


def _nested(levels: int) -> object:
    """An array ``levels`` deep, inside the payload object (one level more)."""
    inner: object = []
    for _ in range(levels - 2):
        inner = [inner]
    return inner


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"job_type": "bad type"}, "type must be 1 to 64 characters of A-Z a-z 0-9 _ . : -"),
        ({"payload": []}, "payload must be a JSON object"),
        ({"idempotency_key": ""}, "Idempotency-Key must be 1 to 255 printable ASCII characters"),
        ({"correlation_id": "é"}, "X-Correlation-Id must be 1 to 255 printable ASCII characters"),
        (
            {"payload": {"deep": _nested(33)}},
            "payload must nest objects and arrays at most 32 levels deep",
        ),
    ],
)
def test_each_refusal_tells_the_client_what_to_fix(fields: dict[str, object], detail: str) -> None:
    valid: dict[str, object] = {"job_type": "resize", "payload": {}, "correlation_id": "c", "caller": "c"}
    with pytest.raises(InvalidSubmission) as refused:
        Submission(**{**valid, **fields})  # type: ignore[arg-type]
    assert refused.value.detail == detail


def test_a_refusal_for_the_content_is_not_one_for_the_size() -> None:
    with pytest.raises(InvalidSubmission) as refused:
        Submission(job_type="bad type", payload={}, correlation_id="c", caller="c")
    assert not refused.value.too_large and refused.value.detail.startswith("type must be")
    assert str(refused.value) == refused.value.detail


def test_a_payload_nested_to_the_limit_is_accepted() -> None:
    submission = Submission(job_type="t", payload={"deep": _nested(32)}, correlation_id="c", caller="c")
    assert submission.payload_json.count("[") == 31
