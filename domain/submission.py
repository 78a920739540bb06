"""A validated job submission and the SQS message built from it.

The checks here guarantee that a message the service builds is one real SQS
accepts (characters and size), whatever a local emulator would let through,
so that a bad request is refused before anything is written.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import attrs

from domain.nesting import MAX_NESTING, nested_deeper_than

JOB_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Printable ASCII, as the Idempotency-Key draft and SQS attributes allow.
HEADER_TOKEN = re.compile(r"[\x20-\x7e]{1,255}")
# The characters SQS accepts in a message body and in string attributes.
SQS_TEXT = re.compile("[\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
# SQS's message size limit (body plus attributes).
SQS_MAX_MESSAGE_BYTES = 1_048_576


def sqs_message_size(body: str, correlation_id: str) -> int:
    """What SQS counts against its limit: the body, and the correlation_id
    attribute (its name, its type and its value)."""
    return len(body.encode("utf-8")) + len("correlation_id") + len("String") + len(correlation_id)


class InvalidSubmission(ValueError):
    """The request can never be accepted as it is: a 4xx, nothing written."""

    def __init__(self, detail: str, *, too_large: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.too_large = too_large


@attrs.frozen
class Submission:
    job_type: str
    payload: dict[str, Any]
    correlation_id: str
    # Who asks: the owner of the job, and the scope of its Idempotency-Key.
    caller: str
    idempotency_key: str | None = None

    def __attrs_post_init__(self) -> None:
        if not JOB_TYPE.fullmatch(self.job_type):
            raise InvalidSubmission("type must be 1 to 64 characters of A-Z a-z 0-9 _ . : -")
        if not isinstance(self.payload, dict):
            raise InvalidSubmission("payload must be a JSON object")
        if nested_deeper_than(self.payload):
            raise InvalidSubmission(f"payload must nest objects and arrays at most {MAX_NESTING} levels deep")
        if self.idempotency_key is not None and not HEADER_TOKEN.fullmatch(self.idempotency_key):
            raise InvalidSubmission("Idempotency-Key must be 1 to 255 printable ASCII characters")
        if not HEADER_TOKEN.fullmatch(self.correlation_id):
            raise InvalidSubmission("X-Correlation-Id must be 1 to 255 printable ASCII characters")
        self.payload_json  # noqa: B018 - encodes, and refuses what cannot be encoded, now

    @functools.cached_property
    def payload_json(self) -> str:
        """The payload as it goes into the message, encoded once.

        Raw UTF-8 keeps it small, and JSON already escapes control
        characters; the only characters left that SQS refuses are U+FFFE
        and U+FFFF, and for those ASCII escaping is the way out. Text that
        is not valid Unicode (a lone surrogate from "\\ud800") and numbers
        JSON cannot hold (an overflowing ``1e400``) are refused.
        """
        try:
            text = json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:
            # 1e400 parses as inf: Python would write Infinity, which no
            # strict JSON parser (nor a worker in another language) reads.
            raise InvalidSubmission("numbers must be finite (1e400 is not)") from None
        if SQS_TEXT.fullmatch(text):
            return text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidSubmission("the body holds text that is not valid Unicode (a lone surrogate)") from None
        return json.dumps(self.payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False)

    @functools.cached_property
    def request_hash(self) -> str:
        """Fingerprint of what the client asked for, to spot a reused key."""
        canonical = json.dumps(
            {"type": self.job_type, "payload": self.payload},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

    def message_body(self, *, job_id: str, enqueue_id: str, submitted_at: datetime) -> str:
        # Every envelope field is ASCII (ids, the validated type and
        # correlation id, a timestamp); the payload is spliced in as encoded.
        envelope = json.dumps(
            {
                "job_id": job_id,
                "enqueue_id": enqueue_id,
                "type": self.job_type,
                "correlation_id": self.correlation_id,
                "submitted_at": submitted_at.isoformat(),
            },
            separators=(",", ":"),
        )
        return f'{envelope[:-1]},"payload":{self.payload_json}}}'

    def check_fits_in_a_message(self) -> None:
        """Refuse now what SQS would refuse later, with the worst-case ids."""
        body = self.message_body(
            job_id="0" * 36,
            enqueue_id="0" * 36,
            # As long as any moment with microseconds is written.
            submitted_at=datetime.max.replace(tzinfo=UTC),
        )
        size = sqs_message_size(body, self.correlation_id)
        if size > SQS_MAX_MESSAGE_BYTES:
            raise InvalidSubmission(
                f"the job's message would be {size} bytes; SQS takes at most {SQS_MAX_MESSAGE_BYTES}",
                too_large=True,
            )
