"""The moments that bound what one Lambda invocation may still do.

The producer, the worker and the reconciler each get one ``Budget`` from
their invocation's end: no new work (a send, a claim, a settlement) starts
after ``work_by``, every store write ends by ``settle_by``, and what the
invocation holds (a producer's lease, a worker's claim) is honoured until
``lease_until``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

# Lambdas' clocks agree to well within this: what an invocation holds is
# honoured this long past its end before another may take it over.
CLOCK_SKEW = timedelta(seconds=5)
# Kept free at the very end of an invocation to write the answer.
ANSWER_RESERVE = timedelta(milliseconds=100)


@attrs.frozen
class Budget:
    work_by: datetime  # no send, claim or settlement starts after this
    settle_by: datetime  # every store write ends by then
    lease_until: datetime  # what the invocation holds, others leave alone until then

    @classmethod
    def ending(cls, end: datetime, margin: timedelta) -> Budget:
        """The budget of an invocation ending at ``end`` that keeps ``margin``
        free for its last writes."""
        return cls(end - margin, end - ANSWER_RESERVE, end + CLOCK_SKEW)
