"""A team's own handlers, deployed by ``examples/cdk_app/app.py``: the
result of a ``thumbnail`` job is a reference to what it wrote, not the
bytes (a result is at most MAX_RESULT_BYTES of JSON)."""

from __future__ import annotations

import os
from typing import Any

from ports.handlers import HandlerRegistry, JobContext, PermanentJobError

registry = HandlerRegistry()


@registry.handler("thumbnail")
def thumbnail(payload: dict[str, Any], context: JobContext) -> dict[str, str]:
    source = payload.get("source")
    if not isinstance(source, str) or not source.startswith("s3://"):
        raise PermanentJobError("source must be an s3:// URL", code="BadSource")
    key = f"thumbnails/{context.job_id}.png"
    # A real handler would read the source and write the thumbnail here,
    # with boto3 and the grants the app gave its worker.
    context.logger.info("thumbnail planned", extra={"source": source, "key": key})
    return {"thumbnail": f"s3://{os.environ['THUMBNAIL_BUCKET']}/{key}"}
