"""The simulation's actors come from the production container, built once
per process: no actor may keep another world's ports, or share a retrier
or a random source with another actor."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from domain.work import ProcessJobMessage
from tests.simulation.explorer import Scheduler
from tests.simulation.wiring import WIRING
from tests.simulation.world import World


def parts(use_case: Any) -> dict[str, Any]:
    """A use case's collaborators, and those of its retriers, by name."""
    found = dict(vars(use_case))
    for name, part in vars(use_case).items():
        if hasattr(part, "_retrier"):  # the store's retrier wraps a Retrier
            part = part._retrier
        if hasattr(part, "policy"):
            found.update({f"{name}.{inner}": value for inner, value in vars(part).items()})
    return found


ACTORS: dict[str, Callable[[World], Any]] = {
    "producer": lambda world: world.enqueue("p"),
    "worker": lambda world: world.worker("w"),
    "reconciler": lambda world: world.reconciler(),
}


@pytest.mark.parametrize("actor", ACTORS)
def test_actors_of_two_worlds_share_no_port_retrier_or_random_source(actor: str) -> None:
    first, second = World(Scheduler()), World(Scheduler())

    one, other = parts(ACTORS[actor](first)), parts(ACTORS[actor](second))

    assert one.keys() == other.keys()
    shared = {
        name
        for name, part in one.items()
        # Stateless: numbers, names, the failure class a retrier retries, a hook that is a plain function.
        if part is other[name] and not isinstance(part, (int, str, type, types.FunctionType))
    }
    assert {name for name in shared if not name.endswith(("policy", "_settings"))} == set()
    assert one["_clock"] is first.clock and other["_clock"] is second.clock
    assert one["_metrics"] is first.metrics and other["_metrics"] is second.metrics


def test_an_actor_is_wired_for_its_own_world_and_name() -> None:
    world = World(Scheduler())
    world.worker_class = type("Defective", (ProcessJobMessage,), {})

    defective, honest = world.worker("w1"), World(Scheduler()).worker("w2")

    assert type(defective).__name__ == "Defective" and type(honest) is ProcessJobMessage
    assert defective._ids.new_claim_id() != honest._ids.new_claim_id()
    assert WIRING.world is None  # nothing outside a build can reach a world
