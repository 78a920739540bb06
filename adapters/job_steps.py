"""Processing steps for the reference worker."""

from __future__ import annotations

from typing import Any

from domain.job import Job


class NoStep:
    """The default: the job succeeds without doing anything. A deployment
    plugs its own step in through the container's ``job_step`` provider."""

    def __call__(self, job: Job, payload: dict[str, Any]) -> None:
        return None
