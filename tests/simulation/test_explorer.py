"""Tests of the schedule explorer on tiny worlds whose schedules can be counted by hand."""

from __future__ import annotations

import gc
from collections.abc import Callable

import attrs
import greenlet
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.simulation.explorer import (
    Actor,
    BoundExceeded,
    Build,
    Counterexample,
    Move,
    ReplayDivergence,
    Scenario,
    Scheduler,
    Step,
    explore,
    independent,
    run_drawn,
)

READ = Step("read", "counter", writes=False)
WRITE = Step("write", "counter")
CAS = Step("cas", "counter")


@attrs.define
class Counter:
    """A shared register, plus how many increments the actors believe they made."""

    value: int = 0
    increments: int = 0


def racy_increment(scheduler: Scheduler, counter: Counter, times: int) -> Callable[[], None]:
    """Read, then write back the value read plus one: loses updates under interleaving."""

    def body() -> None:
        for _ in range(times):
            scheduler.point(READ)
            seen = counter.value
            scheduler.point(WRITE)
            counter.value = seen + 1
            counter.increments += 1

    return body


def cas_increment(scheduler: Scheduler, counter: Counter) -> Callable[[], None]:
    """Read, then compare-and-set; retry from the read if someone wrote in between."""

    def body() -> None:
        while True:
            scheduler.point(READ)
            seen = counter.value
            scheduler.point(CAS)
            if counter.value == seen:
                counter.value = seen + 1
                counter.increments += 1
                return

    return body


def counter_world(increment: Callable[[Scheduler, Counter], Callable[[], None]], total: int = 2) -> Build:
    """Two actors incrementing one counter; the invariant: no increment is ever lost."""

    def build(scheduler: Scheduler) -> Scenario:
        counter = Counter()

        def check() -> None:
            assert counter.value == counter.increments, f"lost update: value {counter.value}, {counter.increments} made"

        def finish() -> None:
            assert counter.value == total, f"expected {total}, got {counter.value}"

        actors = [Actor(name, increment(scheduler, counter)) for name in ("a", "b")]
        return Scenario(actors, check=check, finish=finish)

    return build


def straight_line(steps: dict[str, list[Step]], log: list[Move] | None = None) -> Build:
    """Actors that only pass their points, in order; optionally log every move for inspection."""

    def build(scheduler: Scheduler) -> Scenario:
        def body_of(name: str, own: list[Step]) -> Callable[[], None]:
            def body() -> None:
                for step in own:
                    variant = scheduler.point(step)
                    if log is not None:
                        log.append((name, step, variant))

            return body

        return Scenario([Actor(name, body_of(name, own)) for name, own in steps.items()])

    return build


def suspended_greenlets() -> int:
    """Greenlets started and not finished, other than the one running: each holds a paused actor."""
    gc.collect()
    current = greenlet.getcurrent()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, greenlet.greenlet) and obj and obj is not current)


# --- the lost update and its fix ---------------------------------------------------------------


def test_the_lost_update_is_found_and_its_trace_shows_the_interleaving() -> None:
    with pytest.raises(Counterexample) as caught:
        explore(counter_world(lambda s, c: racy_increment(s, c, 1)))
    trace = caught.value.trace
    assert [(name, step.op) for name, step, _ in trace] == [
        ("a", "read"),
        ("b", "read"),
        ("a", "write"),
        ("b", "write"),
    ]
    assert isinstance(caught.value.error, AssertionError)
    assert "lost update" in str(caught.value)


def test_the_compare_and_set_loses_nothing_in_the_expected_number_of_traces() -> None:
    # Say a's CAS is the first CAS. Either b had not read yet (a: read, cas; b: read, cas), or b
    # had (both reads in either order, a's cas, b's cas fails, b reads and cas again): 1 + 2 = 3
    # interleavings, and the same with b first: 6. The two reads commute, so 4 traces.
    assert explore(counter_world(cas_increment), reduction=False).executions == 6
    report = explore(counter_world(cas_increment))
    assert report.executions == 4
    assert report.pruned > 0


def test_dependent_steps_are_all_interleaved() -> None:
    # Two actors, two writes each on the same target: C(4, 2) = 6 orders, none equivalent.
    build = straight_line({"a": [WRITE, WRITE], "b": [WRITE, WRITE]})
    assert explore(build) == explore(build, reduction=False)
    assert explore(build).executions == 6
    assert explore(build).pruned == 0


# --- independence and sleep sets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a_step", "b_step"),
    [
        (Step("save", "job-1"), Step("save", "job-2")),
        (Step("get", "job-1", writes=False), Step("get", "job-1", writes=False)),
    ],
    ids=["different-targets", "reads-only"],
)
def test_independent_steps_run_in_one_order_only(a_step: Step, b_step: Step) -> None:
    build = straight_line({"a": [a_step] * 3, "b": [b_step] * 3})
    assert explore(build, reduction=False).executions == 20  # C(6, 3)
    report = explore(build)
    assert report.executions == 1
    assert report.pruned > 0


def test_a_step_without_target_depends_on_everything() -> None:
    build = straight_line({"a": [Step("clock", None, writes=False)] * 2, "b": [Step("get", "x", writes=False)] * 2})
    assert explore(build).executions == 6


def test_independence_relation() -> None:
    read_x, write_x, write_y = Step("get", "x", writes=False), Step("put", "x"), Step("put", "y")
    assert independent(("a", read_x, "ok"), ("b", read_x, "ok"))
    assert independent(("a", write_x, "ok"), ("b", write_y, "ok"))
    assert not independent(("a", read_x, "ok"), ("b", write_x, "ok"))
    assert not independent(("a", write_x, "ok"), ("a", write_y, "ok"))  # same actor
    assert not independent(("a", write_x, "ok"), ("a", write_x, "lost"))  # variants of one step
    assert not independent(("a", Step("tick"), "ok"), ("b", write_y, "ok"))


@attrs.frozen
class Op:
    """One step of a generated program: on target a, b or everything (None); read or write; faulty."""

    target: str | None
    writes: bool
    faulty: bool


ops = st.builds(Op, st.sampled_from(["a", "b", None]), st.booleans(), st.booleans())
programs = st.lists(st.lists(ops, min_size=1, max_size=3), min_size=2, max_size=3)


def program_world(program: list[list[Op]], finals: set[object], states: set[object]) -> Build:
    """Actors writing their name into per-target logs and reading lengths; records every state."""

    def build(scheduler: Scheduler) -> Scenario:
        logs: dict[str, list[str]] = {"a": [], "b": []}
        seen: dict[str, list[int]] = {}

        def snapshot() -> object:
            return (tuple(tuple(log) for log in logs.values()), tuple(sorted((k, tuple(v)) for k, v in seen.items())))

        def body_of(name: str, own: list[Op]) -> Callable[[], None]:
            def body() -> None:
                for op in own:
                    step = Step("put" if op.writes else "get", op.target, op.writes)
                    variant = scheduler.point(step, ("ok", "lost") if op.faulty else ("ok",))
                    touched = list(logs) if op.target is None else [op.target]
                    for target in touched:
                        if variant == "lost":
                            continue
                        if op.writes:
                            logs[target].append(name)
                        else:
                            seen.setdefault(name, []).append(len(logs[target]))

            return body

        actors = [Actor(f"p{i}", body_of(f"p{i}", own)) for i, own in enumerate(program)]
        return Scenario(actors, check=lambda: states.add(snapshot()), finish=lambda: finals.add(snapshot()))

    return build


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(programs)
def test_sleep_sets_reach_every_state_that_full_interleaving_reaches(program: list[list[Op]]) -> None:
    full_finals: set[object] = set()
    full_states: set[object] = set()
    full = explore(program_world(program, full_finals, full_states), max_faults=1, reduction=False)
    finals: set[object] = set()
    states: set[object] = set()
    reduced = explore(program_world(program, finals, states), max_faults=1)
    assert finals == full_finals
    assert states == full_states
    assert reduced.executions <= full.executions


# --- faults ---------------------------------------------------------------------------------------


def test_the_fault_budget_bounds_the_variants_per_path() -> None:
    outcomes: list[str] = []

    def build(scheduler: Scheduler) -> Scenario:
        return Scenario([Actor("w", lambda: outcomes.append(scheduler.point(Step("save", "j"), ("ok", "fail"))))])

    assert explore(build, max_faults=1).executions == 2
    assert outcomes == ["ok", "fail"]
    outcomes.clear()
    assert explore(build, max_faults=0).executions == 1
    assert outcomes == ["ok"]


def test_the_budget_counts_faults_along_the_whole_path() -> None:
    # Two points with ("ok", "fail"): budget 1 allows ok-ok, ok-fail, fail-ok, not fail-fail.
    paths: list[tuple[str, str]] = []

    def build(scheduler: Scheduler) -> Scenario:
        def body() -> None:
            first = scheduler.point(Step("save", "j"), ("ok", "fail"))
            paths.append((first, scheduler.point(Step("save", "j"), ("ok", "fail"))))

        return Scenario([Actor("w", body)])

    assert explore(build, max_faults=1).executions == 3
    assert sorted(paths) == [("fail", "ok"), ("ok", "fail"), ("ok", "ok")]
    assert explore(build, max_faults=2).executions == 4


# --- enabled, quiescence, crashes ----------------------------------------------------------------


def queue_world(produce: bool, finished: list[list[str]]) -> Build:
    """A consumer waiting on a queue, and a producer that fills it (or not)."""

    def build(scheduler: Scheduler) -> Scenario:
        queue: list[str] = []
        got: list[str] = []

        def producer() -> None:
            scheduler.point(Step("prepare", "other"))
            if produce:
                scheduler.point(Step("publish", "q"))
                queue.append("item")

        def consumer() -> None:
            scheduler.point(Step("receive", "q"), enabled=lambda: bool(queue))
            assert queue, "picked while nothing was there"
            got.append(queue.pop())

        def finish() -> None:
            finished.append(scheduler.unfinished)
            assert got == (["item"] if produce else [])

        return Scenario([Actor("consumer", consumer), Actor("producer", producer)], finish=finish)

    return build


def test_a_waiting_actor_is_never_picked_before_it_is_enabled() -> None:
    finished: list[list[str]] = []
    report = explore(queue_world(True, finished))
    assert report.executions == 1  # the consumer is never enabled until the producer is done
    assert explore(queue_world(True, []), reduction=False).executions == 1
    assert finished == [[]]


def test_finish_learns_which_actors_wait_forever() -> None:
    finished: list[list[str]] = []
    assert explore(queue_world(False, finished)).executions == 1
    assert finished == [["consumer"]]


def test_an_abandoned_actor_runs_nothing_after_its_pause() -> None:
    effects: list[str] = []

    def build(scheduler: Scheduler) -> Scenario:
        def waiter() -> None:
            try:
                scheduler.point(Step("receive", "q"), enabled=lambda: False)
                effects.append("after the pause")
            except Exception:  # the code under test's own handlers must not stop the unwinding
                effects.append("handler")
            finally:
                scheduler.point(Step("nack", "q"))  # a port call while unwinding raises at once
                effects.append("after a point in finally")

        return Scenario([Actor("waiter", waiter)], finish=lambda: effects.append("finish"))

    before = suspended_greenlets()
    explore(build)
    assert suspended_greenlets() == before  # also runs any greenlet merely dropped: too late
    assert effects == ["finish"]


def test_an_actor_left_paused_by_a_violation_runs_nothing_more() -> None:
    effects: list[str] = []

    def build(scheduler: Scheduler) -> Scenario:
        def slow() -> None:
            scheduler.point(Step("save", "x"))
            effects.append("slow saved")

        def failing() -> None:
            raise ValueError("bug in the code under test")

        return Scenario([Actor("slow", slow), Actor("failing", failing)])

    with pytest.raises(Counterexample) as caught:
        explore(build)
    gc.collect()
    assert caught.value.actor == "failing"
    assert isinstance(caught.value.error, ValueError)
    assert caught.value.__cause__ is caught.value.error
    assert effects == []


class Crash(Exception):
    """A simulated process death, recognised by its name."""


class Killed(Exception):
    """A simulated death under another name, accepted through ``expected``."""


def crashing_world(error: type[BaseException], crashed: list[list[str]]) -> Build:
    def build(scheduler: Scheduler) -> Scenario:
        def dies() -> None:
            scheduler.point(Step("save", "x"))
            raise error("down")

        def lives() -> None:
            scheduler.point(Step("save", "y"))

        return Scenario([Actor("dies", dies), Actor("lives", lives)], finish=lambda: crashed.append(scheduler.crashed))

    return build


def test_a_crash_ends_the_actor_but_any_other_exception_is_a_counterexample() -> None:
    crashed: list[list[str]] = []
    assert explore(crashing_world(Crash, crashed)).executions == 1
    assert crashed == [["dies"]]
    assert explore(crashing_world(Killed, []), expected=(Killed,)).executions == 1
    with pytest.raises(Counterexample) as caught:
        explore(crashing_world(Killed, []))
    assert caught.value.actor == "dies"
    assert [name for name, _, _ in caught.value.trace] == ["dies"]
    assert "actor 'dies' raised Killed: down" in str(caught.value)


def test_abandoned_greenlets_are_unwound_not_leaked() -> None:
    before = suspended_greenlets()
    report = explore(queue_world(False, []))
    assert report.executions == 1
    with pytest.raises(Counterexample):
        explore(crashing_world(Killed, []))  # "lives" is left paused by the violation
    assert suspended_greenlets() == before


# --- bounds, determinism, reporting ----------------------------------------------------------------


def test_bound_exceeded_instead_of_stopping_short() -> None:
    build = straight_line({"a": [WRITE] * 3, "b": [WRITE] * 3})
    assert explore(build, max_executions=20).executions == 20
    with pytest.raises(BoundExceeded):
        explore(build, max_executions=19)


def test_a_livelock_exceeds_the_step_bound() -> None:
    def build(scheduler: Scheduler) -> Scenario:
        def spinner() -> None:
            while True:
                scheduler.point(Step("poll", "q", writes=False))

        return Scenario([Actor("spinner", spinner)])

    with pytest.raises(BoundExceeded):
        explore(build, max_steps=50)


def test_a_nondeterministic_build_is_detected_on_replay() -> None:
    builds: list[int] = []

    def build(scheduler: Scheduler) -> Scenario:
        builds.append(1)
        target = f"job-{len(builds)}"  # differs from one execution to the next

        def body() -> None:
            scheduler.point(Step("save", target))

        return Scenario([Actor(name, body) for name in "ab"])

    with pytest.raises(ReplayDivergence):
        explore(build)


def test_exploration_is_deterministic() -> None:
    first: list[Move] = []
    second: list[Move] = []
    steps = {"a": [READ, WRITE, CAS], "b": [WRITE, READ], "c": [Step("x", "other")]}
    assert explore(straight_line(steps, first)) == explore(straight_line(steps, second))
    assert first == second
    assert first


def test_every_step_and_execution_is_counted() -> None:
    report = explore(straight_line({"a": [WRITE], "b": [WRITE]}))
    assert (report.executions, report.steps, report.pruned, report.blocked) == (2, 4, 0, 0)


def test_the_counterexample_prints_one_step_per_line_then_the_error() -> None:
    error = AssertionError("boom")
    text = str(Counterexample([("a", WRITE, "ok"), ("bb", READ, "lost")], error))
    assert text.splitlines() == [
        "schedule of 2 step(s):",
        "    1. a   write(counter)  -> ok",
        "    2. bb  read(counter) [read]  -> lost",
        "violation: AssertionError: boom",
    ]


def test_the_scheduler_names_the_running_actor_and_points_outside_actors_pass() -> None:
    names: list[str] = []

    def build(scheduler: Scheduler) -> Scenario:
        def body() -> None:
            scheduler.point(Step("save", "x"))
            names.append(scheduler.current_actor)

        def check() -> None:
            names.append(scheduler.current_actor)
            assert scheduler.point(Step("get", "x", writes=False), ("first", "second")) == "first"

        return Scenario([Actor("solo", body)], check=check)

    explore(build)
    assert names == ["", "solo", ""]


def test_duplicate_actor_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        explore(lambda scheduler: Scenario([Actor("a", lambda: None)] * 2))


# --- drawn schedules for hypothesis ---------------------------------------------------------------


def test_run_drawn_follows_the_draws_in_the_stable_order() -> None:
    build = straight_line({"a": [WRITE, WRITE], "b": [WRITE]})
    assert [name for name, _, _ in run_drawn(build, lambda n: 0)] == ["a", "a", "b"]
    assert [name for name, _, _ in run_drawn(build, lambda n: n - 1)] == ["b", "a", "a"]
    with pytest.raises(ValueError, match="outside"):
        run_drawn(build, lambda n: n)


def test_hypothesis_finds_the_lost_update_and_shrinks_it_to_four_steps() -> None:
    build = counter_world(lambda s, c: racy_increment(s, c, 3), total=6)

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.data())
    def schedules(data: st.DataObject) -> None:
        run_drawn(build, lambda n: data.draw(st.integers(0, n - 1)))

    with pytest.raises(Counterexample) as caught:
        schedules()
    assert len(caught.value.trace) == 4
    assert [step.op for _, step, _ in caught.value.trace] == ["read", "read", "write", "write"]


def test_a_family_target_depends_on_each_member_it_names_and_on_nothing_else() -> None:
    query = ("a", Step("find", "job-*", writes=False), "ok")
    assert not independent(query, ("b", Step("save", "job-1"), "ok"))
    assert independent(query, ("b", Step("get", "job-1", writes=False), "ok"))
    assert independent(query, ("b", Step("publish", "queue"), "ok"))
