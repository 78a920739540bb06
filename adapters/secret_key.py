"""The job-id key, read from Secrets Manager once per cold start.

A read is safe to repeat, so unlike the table's and the queue's clients
this one keeps botocore's standard retries (throttling and 5xx included),
two attempts with short timeouts.
A key that cannot be read stops the cold start with the secret's name and
AWS's error code: the request fails at the gateway (502, retryable), and
the next invocation of the environment tries again.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# Two attempts, about 3 s at worst: while Secrets Manager is out, each new
# environment's first request holds its execution no longer than that
# before its 502, and the next invocation tries again.
SECRETS_CONFIG = Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=0.5, read_timeout=1)


class SecretUnreadable(RuntimeError):
    pass


@attrs.frozen
class JobIdKeys:
    """The key keyed job ids are made with, and while it is rotated the
    rotation's other key.

    A secret's string is the key alone, or a JSON object: ``{"current": K,
    "next": N}`` in a rotation's first phase (ids made with K, refused while
    N's is taken), ``{"current": N, "previous": K}`` in its second (ids made
    with N, refused while K's is taken). Each phase reaches every
    environment before the next begins (README, "Rotating the job-id key").
    """

    current: str = attrs.field(repr=False)
    other: str | None = attrs.field(default=None, repr=False)
    # 0: no rotation; 1: the other is the next key; 2: the previous one.
    phase: int = 0

    @classmethod
    def parse(cls, text: str, source: str) -> JobIdKeys:
        # An unresolved CloudFormation reference is a key, checked as one.
        if not text.lstrip().startswith("{") or text.startswith("{{resolve:"):
            return cls(text)
        try:
            keys = json.loads(text)
        except ValueError:
            raise SecretUnreadable(f"{source} is not a key nor a JSON object of keys") from None
        shape = set(keys) if isinstance(keys, dict) else set()
        if shape not in ({"current"}, {"current", "next"}, {"current", "previous"}) or not all(
            isinstance(value, str) for value in keys.values()
        ):
            raise SecretUnreadable(
                f'{source} must hold "current", and "next" or "previous" while a rotation is under way, '
                f"each a string; it holds {sorted(shape) or 'no object'}"
            )
        other = keys.get("next", keys.get("previous"))
        if other == keys["current"]:
            raise SecretUnreadable(f"{source} names the same key as current and as the rotation's other")
        phase = 1 if "next" in keys else 2 if "previous" in keys else 0
        return cls(keys["current"], other, phase)


def read_secret_string(client: Any, secret_id: str) -> str:
    """The secret's current string (its ``AWSCURRENT`` version)."""
    try:
        answer = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise SecretUnreadable(f"the secret {secret_id} could not be read: {code}") from exc
    except BotoCoreError as exc:
        raise SecretUnreadable(f"the secret {secret_id} could not be read: {type(exc).__name__}") from exc
    text = answer.get("SecretString")
    if not isinstance(text, str):
        raise SecretUnreadable(f"the secret {secret_id} holds binary data, not a string")
    return text
