"""The scenario catalogue: small worlds whose every schedule is explored.

Each scenario names its actors, the faults they meet (scripted on chosen
calls, or any fault on any call up to the scenario's budget) and the clock
jumps that may fall between any two steps. ``make test`` explores each one
exhaustively; ``make prove`` explores bigger worlds (``tests/simulation/prove.py``).

A deliberate table: the scenarios look alike because each is a row, one
world, written out whole so that it reads as the issue's catalogue does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs

from domain.budget import CLOCK_SKEW
from tests.simulation.actors import (
    canceller,
    clock_jumps,
    delivery,
    producer,
    purge,
    reconciler_run,
    rerunner,
)
from tests.simulation.explorer import Scenario, Scheduler
from tests.simulation.wiring import GRACE, PRODUCER_TIMEOUT, WORKER_TIMEOUT
from tests.simulation.world import Faults, World

PAST_LEASE = (PRODUCER_TIMEOUT + timedelta(seconds=10)).total_seconds()
PAST_CLAIM = (WORKER_TIMEOUT + CLOCK_SKEW + timedelta(seconds=5)).total_seconds()
PAST_GRACE = (GRACE + timedelta(seconds=40)).total_seconds()


@attrs.frozen
class Case:
    name: str
    make: Callable[[World], Scenario]
    max_faults: int = 0

    @property
    def slug(self) -> str:
        return self.make.__name__

    def build(self, scheduler: Scheduler) -> Scenario:
        return self.make(World(scheduler))


def case(name: str, max_faults: int = 0) -> Callable[[Callable[[World], Scenario]], Case]:
    def register(make: Callable[[World], Scenario]) -> Case:
        return Case(name, make, max_faults)

    return register


# The scenarios below are a deliberate table: each reads as the issue names
# it, so their bodies look alike on purpose.


@case("producer + worker, any one fault", max_faults=1)
def producer_and_worker(w: World) -> Scenario:
    return w.scenario([producer(w, "producer", "k"), delivery(w, "worker", 1)], {"producer": Faults(free=True)})


@case("producer + two deliveries of its message")
def two_deliveries(w: World) -> Scenario:
    return w.scenario([producer(w, "producer", "k"), delivery(w, "worker-a", 1), delivery(w, "worker-b", 1)])


@case("producer + worker + reconciler (grace 0) + clock")
def reconciler_grace_zero(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            reconciler_run(w, grace=timedelta(0)),
            clock_jumps(w, 5),
        ]
    )


@case("producer paused past the grace + reconciler + worker")
def paused_past_grace(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), clock_jumps(w, PAST_GRACE), reconciler_run(w), delivery(w, "worker", 1)]
    )


@case("two same-key producers + worker")
def same_key_pair(w: World) -> Scenario:
    return w.scenario([producer(w, "producer-a", "k"), producer(w, "producer-b", "k"), delivery(w, "worker", 1)])


@case("two same-key producers + worker + reconciler (grace 0)")
def same_key_pair_reconciled(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer-a", "k"),
            producer(w, "producer-b", "k"),
            delivery(w, "worker", 1),
            reconciler_run(w, grace=timedelta(0)),
        ]
    )


@case("two same-key producers + worker + reconciler + clock")
def same_key_pair_reconciled_later(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer-a", "k"),
            producer(w, "producer-b", "k"),
            delivery(w, "worker", 1),
            reconciler_run(w),
            clock_jumps(w, PAST_GRACE),
        ]
    )


@case("a 503 racing a same-key retry")
def unavailable_racing_retry(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer-a", "k"), producer(w, "producer-b", "k"), delivery(w, "worker", 1)],
        {"producer-a": Faults({"publish": ["unavailable"] * 3})},
    )


@case("a send delivered, its answer lost, retried: two copies, two workers")
def lost_send_two_copies(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker-a", 1), delivery(w, "worker-b", 2)],
        {"producer": Faults({"publish": ["lost"]})},
    )


@case("every send delivered, every answer lost + workers")
def every_send_lost(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker-a", 1), delivery(w, "worker-b", 3)],
        {"producer": Faults({"publish": ["lost"] * 3})},
    )


@case("confirmation lost, then throttled + worker")
def confirmation_lost_then_throttled(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker", 1)],
        {"producer": Faults({"save": ["lost", "throttled"]})},
    )


@case("confirmation throttled three times + worker")
def confirmation_throttled(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker", 1)],
        {"producer": Faults({"save": ["throttled"] * 3})},
    )


@case("producer killed after its send + same-key retry after the lease + worker")
def killed_then_retried(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer-a", "k"),
            clock_jumps(w, PAST_LEASE),
            producer(w, "producer-b", "k"),
            delivery(w, "worker", 1),
            delivery(w, "worker-again", 2),
        ],
        {"producer-a": Faults({"publish": ["crash-after"]})},
    )


@case("producer killed after its send + reconciler after the grace + worker")
def killed_then_reconciled(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), clock_jumps(w, PAST_GRACE), reconciler_run(w), delivery(w, "worker", 1)],
        {"producer": Faults({"publish": ["crash-after"]})},
    )


@case("sends lost, the rollback fails + worker + reconciler (grace 0)")
def rollback_fails(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker", 1), reconciler_run(w, grace=timedelta(0))],
        {"producer": Faults({"publish": ["lost"] * 3, "save": ["throttled"] * 3})},
    )


@case("sends lost, the rollback fails + worker + reconciler after the grace")
def rollback_fails_later(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            clock_jumps(w, PAST_GRACE),
            reconciler_run(w),
        ],
        {"producer": Faults({"publish": ["lost"] * 3, "save": ["throttled"] * 3})},
    )


@case("a worker killed after its claim + a redelivery after the lease")
def worker_killed(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            clock_jumps(w, PAST_CLAIM),
            delivery(w, "redelivery", 1),
        ],
        {"worker": Faults({"step": ["crash"]})},
    )


@case("a worker outlived by its claim + a second delivery of the message")
def worker_outlived(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker-a", 1),
            clock_jumps(w, PAST_CLAIM),
            delivery(w, "worker-b", 1),
        ]
    )


@case("a worker killed after its claim, the message purged + reconciler")
def worker_killed_message_gone(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            purge(w, 1),
            clock_jumps(w, PAST_GRACE),
            reconciler_run(w),
        ],
        {"worker": Faults({"save": ["ok", "crash"]})},
    )


@case("a deleted message delivered again")
def deleted_message_redelivered(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker", 1), delivery(w, "ghost", 1, even_deleted=True)]
    )


@case("two producers without keys + one worker each, any one fault", max_faults=1)
def two_jobs(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer-a", None),
            producer(w, "producer-b", None),
            delivery(w, "worker-a", 1),
            delivery(w, "worker-b", 2),
        ],
        {"worker-a": Faults(free=True), "worker-b": Faults(free=True)},
    )


@case("a handler that fails and a retry after the backoff, duplicated")
def handler_retried(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            delivery(w, "retry", 1),
            delivery(w, "duplicate", 1),
        ],
        {"worker": Faults({"step": ["retryable"]})},
    )


@case("a handler that fails, its message then purged + reconciler")
def retried_message_gone(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            purge(w, 1),
            clock_jumps(w, PAST_GRACE),
            reconciler_run(w),
        ],
        {"worker": Faults({"step": ["retryable"]})},
    )


@case("a worker killed before its event put + reconciler after the grace")
def event_put_crashed(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker", 1), clock_jumps(w, PAST_GRACE), reconciler_run(w)],
        {"worker": Faults({"put": ["crash"]})},
    )


@case("a lost event put racing the reconciler's (event grace 0)")
def event_put_raced(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker", 1), reconciler_run(w, event_grace=timedelta(0))],
        {"worker": Faults({"put": ["lost"]})},
    )


# A rotation of the id key: phase 1 environments make ids with key 1 and
# know key 2 as the next; phase 2 ones make them with key 2 and know key 1
# as the previous. Environments of adjacent phases run at once.
PHASE_1, PHASE_2 = (1, 2), (2, 1)


@case("two same-key producers a rotation's phase apart + worker")
def rotation_pair(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer-a", "k", id_keys=PHASE_1),
            producer(w, "producer-b", "k", id_keys=PHASE_2),
            delivery(w, "worker", 1),
        ]
    )


@case("two same-key producers a rotation's phase apart, any one fault of either", max_faults=1)
def rotation_pair_faulted(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer-a", "k", id_keys=PHASE_1), producer(w, "producer-b", "k", id_keys=PHASE_2)],
        {"producer-a": Faults(free=True), "producer-b": Faults(free=True)},
    )


@case("a phase-1 producer killed after its send + reconciler after the grace + a phase-2 retry")
def rotation_killed_then_reconciled(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer-a", "k", id_keys=PHASE_1),
            clock_jumps(w, PAST_GRACE),
            reconciler_run(w),
            producer(w, "producer-b", "k", id_keys=PHASE_2),
        ],
        {"producer-a": Faults({"publish": ["crash-after"]})},
    )


CATALOGUE = [
    producer_and_worker,
    two_deliveries,
    reconciler_grace_zero,
    paused_past_grace,
    same_key_pair,
    same_key_pair_reconciled,
    unavailable_racing_retry,
    lost_send_two_copies,
    every_send_lost,
    confirmation_lost_then_throttled,
    confirmation_throttled,
    killed_then_retried,
    killed_then_reconciled,
    worker_killed,
    worker_outlived,
    worker_killed_message_gone,
    deleted_message_redelivered,
    two_jobs,
    handler_retried,
    retried_message_gone,
    event_put_crashed,
    event_put_raced,
    rotation_pair,
    rotation_pair_faulted,
    rotation_killed_then_reconciled,
]


def with_faults_everywhere(case: Case, max_faults: int) -> Case:
    """The same world, every actor free to meet any fault on any call."""

    def anywhere(world: World) -> Scenario:
        scenario = case.make(world)
        for actor in scenario.actors:
            world.faults[actor.name] = attrs.evolve(world.faults.get(actor.name, Faults()), free=True)
        return scenario

    anywhere.__name__ = f"{case.slug}_anywhere"
    return Case(f"{case.name} [any {max_faults} fault(s) anywhere]", anywhere, max_faults)


@case("three same-key producers + two deliveries")
def three_producers(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer-a", "k"),
            producer(w, "producer-b", "k"),
            producer(w, "producer-c", "k"),
            delivery(w, "worker-a", 1),
            delivery(w, "worker-b", 1),
        ]
    )


@case("two producers (one key) + two workers + reconciler (grace 0)")
def two_of_everything(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer-a", "k"),
            producer(w, "producer-b", "k"),
            delivery(w, "worker-a", 1),
            delivery(w, "worker-b", 2),
            reconciler_run(w, grace=timedelta(0)),
        ]
    )


# The owner's cancel and re-run (issue 17): a canceller and a re-runner
# are actors like any request, meeting the same faults.


@case("producer + canceller + worker, any one fault of the canceller or the worker", max_faults=1)
def cancel_racing_delivery(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), canceller(w, "cancel", "k"), delivery(w, "worker", 1)],
        {"cancel": Faults(free=True), "worker": Faults(free=True)},
    )


@case("producer + canceller after the lease + worker, any one fault of the producer", max_faults=1)
def cancel_after_the_lease(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            clock_jumps(w, PAST_LEASE),
            canceller(w, "cancel", "k"),
            delivery(w, "worker", 1),
        ],
        {"producer": Faults(free=True)},
    )


@case("a cancel racing a handler that fails and would be retried")
def cancel_racing_a_retry(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker", 1), canceller(w, "cancel", "k")],
        {"worker": Faults({"step": ["retryable"]})},
    )


@case("a cancel of a worker killed after its claim + a redelivery after the claim")
def cancel_of_a_dead_worker(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            canceller(w, "cancel", "k"),
            clock_jumps(w, PAST_CLAIM),
            delivery(w, "redelivery", 1),
        ],
        {"worker": Faults({"step": ["crash"]})},
    )


@case("a failed job re-run + its delivery, any one fault of the re-run or the worker", max_faults=1)
def rerun_of_a_failed_job(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            rerunner(w, "rerun", "k"),
            delivery(w, "worker-2", 2),
        ],
        {"worker": Faults({"step": ["permanent"]}), "rerun": Faults(free=True), "worker-2": Faults(free=True)},
    )


@case("a cancel, a re-run and a same-key producer + deliveries")
def cancel_then_rerun(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            canceller(w, "cancel", "k"),
            rerunner(w, "rerun", "k"),
            producer(w, "producer-again", "k"),
            delivery(w, "worker", 2),
        ]
    )


@case("a cancel of a worker killed after its claim (the drain's redelivery takes it over)")
def cancel_of_a_dead_worker_drained(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), delivery(w, "worker", 1), canceller(w, "cancel", "k")],
        {"worker": Faults({"step": ["crash"]})},
    )


@case("a re-run racing a cancel (the drain delivers what is left)")
def rerun_racing_cancel_drained(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            rerunner(w, "rerun", "k"),
            canceller(w, "cancel", "k"),
        ],
        {"worker": Faults({"step": ["permanent"]})},
    )


@case("a re-run racing a cancel + the re-run's delivery")
def rerun_racing_cancel(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            rerunner(w, "rerun", "k"),
            canceller(w, "cancel", "k"),
            delivery(w, "worker-2", 2),
        ],
        {"worker": Faults({"step": ["permanent"]})},
    )


@case("a PENDING job cancelled, then re-run whose send fails for good")
def cancel_pending_then_failed_rerun(w: World) -> Scenario:
    return w.scenario(
        [producer(w, "producer", "k"), canceller(w, "cancel", "k"), rerunner(w, "rerun", "k")],
        {"producer": Faults({"publish": ["permanent"]}), "rerun": Faults({"publish": ["permanent"]})},
    )


@case("a cancel asked during a run that fails, a re-run, its worker killed (the drain takes over)")
def cancel_asked_then_rerun_killed(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            delivery(w, "worker", 1),
            canceller(w, "cancel", "k"),
            rerunner(w, "rerun", "k"),
            delivery(w, "worker-2", 2),
        ],
        {"worker": Faults({"step": ["retryable"]}), "worker-2": Faults({"step": ["crash"]})},
    )


@case("a cancel, two re-runs, a same-key producer + two deliveries")
def cancel_then_reruns(w: World) -> Scenario:
    return w.scenario(
        [
            producer(w, "producer", "k"),
            canceller(w, "cancel", "k"),
            rerunner(w, "rerun-a", "k"),
            rerunner(w, "rerun-b", "k"),
            producer(w, "producer-again", "k"),
            delivery(w, "worker", 1),
            delivery(w, "worker-2", 2),
        ]
    )


OWNER_ACTIONS = [
    cancel_racing_delivery,
    cancel_racing_a_retry,
    cancel_of_a_dead_worker_drained,
    rerun_of_a_failed_job,
    cancel_then_rerun,
    rerun_racing_cancel_drained,
    cancel_pending_then_failed_rerun,
    cancel_asked_then_rerun_killed,
]
CATALOGUE.extend(OWNER_ACTIONS)


# Bigger bounds, for `make prove`: the catalogue's smaller worlds with any
# fault on any call of any actor (the larger ones would need tens of
# millions of schedules: tests/simulation/test_drawn.py samples those), and
# more actors.
PROVE = [
    # In make test until its worker also announced: 85k schedules, 100 s here.
    rollback_fails,
    *(
        with_faults_everywhere(c, 1)
        for c in (
            producer_and_worker,
            two_deliveries,
            same_key_pair,
            unavailable_racing_retry,
            lost_send_two_copies,
            every_send_lost,
            confirmation_lost_then_throttled,
            confirmation_throttled,
            killed_then_retried,
            killed_then_reconciled,
            worker_killed,
            deleted_message_redelivered,
            rotation_pair,
        )
    ),
    same_key_pair_reconciled_later,
    rollback_fails_later,
    three_producers,
    two_of_everything,
    # The owner's cancel and re-run, in bigger worlds.
    cancel_after_the_lease,
    cancel_of_a_dead_worker,
    rerun_racing_cancel,
    *(
        with_faults_everywhere(c, 1)
        for c in (cancel_racing_a_retry, cancel_then_rerun, cancel_of_a_dead_worker_drained)
    ),
]
