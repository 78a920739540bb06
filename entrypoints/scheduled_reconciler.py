"""The reconciler's scheduled run (EventBridge event in, report out).

Each run settles up to RECONCILE_BATCH_SIZE stuck jobs, oldest first, and
stops DEADLINE_MARGIN_MS before the invocation's end; what is left waits
for the next run. Running it twice changes nothing more than running it once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from adapters.json_logging import log_context
from domain.reconcile import ReconcileStuckJobs
from ports.runtime import Clock, Metrics


class ScheduledReconciler:
    def __init__(self, *, reconcile: ReconcileStuckJobs, clock: Clock, metrics: Metrics) -> None:
        self._reconcile = reconcile
        self._clock = clock
        self._metrics = metrics

    def __call__(self, event: Any, context: Any) -> dict[str, int]:
        invocation_end = self._clock.now() + timedelta(milliseconds=context.get_remaining_time_in_millis())
        run_id = event.get("id") if isinstance(event, dict) else None
        with log_context(correlation_id=run_id or getattr(context, "aws_request_id", "reconciler")):
            try:
                report = self._reconcile(invocation_end)
            finally:
                self._metrics.flush()
        return attrs.asdict(report)
