"""A world too big to explore every schedule of: hypothesis draws the
schedule and the faults (up to three per schedule, on any call of any
actor), so that a violation shrinks to a short schedule.

SIMULATION_EXAMPLES sets the number of schedules (1000 by default)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.faults import Crash
from tests.simulation.catalogue import PAST_CLAIM, PAST_GRACE
from tests.simulation.explorer import Scenario, Scheduler, run_drawn
from tests.simulation.world import Faults, World

EXAMPLES = int(os.environ.get("SIMULATION_EXAMPLES", "1000"))


def big_world(scheduler: Scheduler) -> Scenario:
    w = World(scheduler)
    actors = [
        w.producer("producer-a", "k"),
        w.producer("producer-b", "k"),
        w.producer("producer-c", "j"),
        w.producer("producer-d", None),
        w.delivery("worker-1", 1),
        w.delivery("worker-2", 2),
        w.delivery("worker-3", 3),
        w.delivery("worker-4", 4),
        w.delivery("worker-1-again", 1),
        w.reconciler_run("reconciler-a"),
        w.reconciler_run("reconciler-b"),
        w.clock_jumps(PAST_CLAIM, PAST_GRACE),
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
