"""The job-id key, read from Secrets Manager once per cold start.

A read is safe to repeat, so unlike the table's and the queue's clients
this one keeps botocore's standard retries (throttling and 5xx included).
A key that cannot be read stops the cold start with the secret's name and
AWS's error code: the request fails at the gateway (502, retryable), and
the next invocation of the environment tries again.
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# Three attempts within about 10 s, well inside the API function's 20 s.
SECRETS_CONFIG = Config(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=1, read_timeout=2)


class SecretUnreadable(RuntimeError):
    pass


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
