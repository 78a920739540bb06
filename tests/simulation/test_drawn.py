"""A world too big to explore every schedule of: hypothesis draws the
schedule and the faults (up to three per schedule, on any call of any
actor), so that a violation shrinks to a short schedule.

SIMULATION_EXAMPLES sets the number of schedules (1000 by default)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.faults import Crash
from tests.simulation.actors import clock_jumps, delivery, producer, reconciler_run
from tests.simulation.catalogue import PAST_CLAIM, PAST_GRACE
from tests.simulation.explorer import Scenario, Scheduler, run_drawn
from tests.simulation.world import Faults, World

EXAMPLES = int(os.environ.get("SIMULATION_EXAMPLES", "1000"))


def big_world(scheduler: Scheduler) -> Scenario:
    w = World(scheduler)
    actors = [
        producer(w, "producer-a", "k"),
        producer(w, "producer-b", "k"),
        producer(w, "producer-c", "j"),
        producer(w, "producer-d", None),
        delivery(w, "worker-1", 1),
        delivery(w, "worker-2", 2),
        delivery(w, "worker-3", 3),
        delivery(w, "worker-4", 4),
        delivery(w, "worker-1-again", 1),
        reconciler_run(w, "reconciler-a"),
        reconciler_run(w, "reconciler-b"),
        clock_jumps(w, PAST_CLAIM, PAST_GRACE),
    ]
    return w.scenario(actors, {actor.name: Faults(free=True) for actor in actors})


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_drawn_schedules_of_a_big_world_keep_every_invariant(data: st.DataObject) -> None:
    trace = run_drawn(big_world, lambda n: data.draw(st.integers(0, n - 1)), max_faults=3, expected=(Crash,))
    assert trace
