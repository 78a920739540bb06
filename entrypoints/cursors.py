"""The opaque cursor of ``GET /jobs``: where the next page starts, sealed.

A cursor names the last job of a page, and binds the caller and the status
filter it was made for, under an HMAC of a key derived from the job-id
key. A cursor that was changed, made up, or made for another caller or
another filter does not open: the request is refused (400), never answered
with someone else's page. While the job-id key is rotated, a cursor sealed
with either key opens; each is sealed with the current one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime

from ports.repository import Position

# Keeps the cursor key apart from every other use of the job-id key.
_PURPOSE = b"jobs-list-cursor/v1"
_TAG_BYTES = 16


class BadCursor(ValueError):
    pass


class Cursors:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("cursors need a key")
        self._keys = [hmac.new(key.encode(), _PURPOSE, hashlib.sha256).digest() for key in keys]

    def seal(self, position: Position, caller: str, status: str | None) -> str:
        created_at, job_id = position
        body = json.dumps([created_at.isoformat(), job_id], separators=(",", ":")).encode()
        return _b64(body + self._tag(self._keys[0], body, caller, status))

    def open(self, cursor: str, caller: str, status: str | None) -> Position:
        """The position ``cursor`` names, if this caller with this filter made it."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise BadCursor("the cursor is not one this API made") from None
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if len(raw) <= _TAG_BYTES or not any(
            hmac.compare_digest(tag, self._tag(key, body, caller, status)) for key in self._keys
        ):
            raise BadCursor("the cursor is not one this API made for this caller and filter")
        created_at, job_id = json.loads(body)
        return datetime.fromisoformat(created_at), job_id

    @staticmethod
    def _tag(key: bytes, body: bytes, caller: str, status: str | None) -> bytes:
        bound = json.dumps([caller, status]).encode() + b"\n" + body
        return hmac.new(key, bound, hashlib.sha256).digest()[:_TAG_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
