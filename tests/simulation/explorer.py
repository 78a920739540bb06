"""A deterministic schedule explorer: stateless model checking in the style of CHESS.

Several *actors* (plain callables running the real, synchronous code) run in greenlets, one at a
time. Each pauses at every *scheduling point* (``scheduler.point(...)``, typically called by an
in-memory fake of a port just before the call takes effect). The explorer decides which paused
actor goes next and which *variant* of its pending step happens (variant 0 is the normal outcome,
later ones are faults such as "throttled" or "answer lost").

``explore`` runs EVERY schedule up to the fault bound, depth-first, re-running the scenario from
scratch for each one (replaying the recorded prefix of choices, then extending it). Sleep sets
(Godefroid) skip orders of independent steps that lead to states already covered, so the cost is
about one run per *Mazurkiewicz trace* rather than one per interleaving.

``run_drawn`` runs ONE schedule whose every choice comes from a callback, so hypothesis can draw
and shrink schedules of scenarios too large to explore exhaustively.

Independence is declared, not inferred: a step's ``target`` and ``writes`` must be honest. Two
steps that both touch the same object, one of them writing, must say so, and so must a step whose
``enabled`` condition another actor's step can change (a ``receive`` waiting on a queue and the
``publish`` to that queue must share the target, and one of them must write).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol, cast

import attrs
import greenlet

__all__ = [
    "Actor",
    "BoundExceeded",
    "Build",
    "Counterexample",
    "Move",
    "ReplayDivergence",
    "Report",
    "Scenario",
    "Scheduler",
    "Step",
    "explore",
    "independent",
    "run_drawn",
]


@attrs.frozen(cache_hash=True)
class Step:
    """What an actor is about to do, for the trace and for independence.

    The hash is cached because steps are hashed on every sleep-set lookup.
    """

    op: str
    target: str | None = None
    writes: bool = True

    def __str__(self) -> str:
        where = "*" if self.target is None else self.target
        return f"{self.op}({where})" + ("" if self.writes else " [read]")


Move = tuple[str, Step, str]
"""One choice of the explorer, identified across executions: (actor name, its pending step, variant)."""


def _nothing() -> None:
    """Default check/finish: no invariant."""


@attrs.frozen
class Actor:
    """A named body of real code; the name identifies its moves across executions."""

    name: str
    body: Callable[[], None]


@attrs.define
class Scenario:
    """A fresh world for one execution: its actors and the invariants to hold over it.

    ``check`` runs after every step (safety); ``finish`` runs once when no actor can move any more
    (quiescence: everything done, or the rest waiting forever, see ``Scheduler.unfinished``).
    """

    actors: list[Actor]
    check: Callable[[], None] = _nothing
    finish: Callable[[], None] = _nothing


Build = Callable[["Scheduler"], Scenario]
"""Builds a FRESH world and its actors; called once per execution, so it must be deterministic."""


@attrs.frozen
class Report:
    """What an exhaustive exploration did.

    ``steps`` counts every step run, replays included (it measures cost). ``blocked`` counts runs cut
    short because every move left was in the sleep set: their states are covered by other runs.
    """

    executions: int
    steps: int
    pruned: int
    blocked: int = 0


class BoundExceeded(RuntimeError):
    """The exploration needs more executions (or one execution more steps) than allowed.

    Distinct from a violation so that a test can never silently stop short of exhaustive.
    """


class ReplayDivergence(RuntimeError):
    """Replaying a recorded prefix reached a different state: the scenario is not deterministic.

    Stateless exploration relies on ``build`` and the actors doing the same thing for the same
    choices; anything else (wall clock, unseeded randomness, shared state between builds) breaks it.
    """


class Counterexample(AssertionError):
    """A schedule that violates an invariant, or makes the code under test raise.

    ``trace`` is the list of moves from the start of the execution; ``error`` the original error
    (also chained as ``__cause__``); ``actor`` the actor that raised it, if one did.
    """

    def __init__(self, trace: list[Move], error: BaseException, actor: str | None = None) -> None:
        self.trace = trace
        self.error = error
        self.actor = actor
        super().__init__(_render(trace, error, actor))

    def __reduce__(self) -> tuple[Any, ...]:
        """Keep the exception picklable (hypothesis and pytest may copy it)."""
        return (Counterexample, (self.trace, self.error, self.actor))


def _render(trace: list[Move], error: BaseException, actor: str | None) -> str:
    """One step per line, then the error: readable in a pytest failure."""
    width = max((len(name) for name, _, _ in trace), default=0)
    lines = [f"schedule of {len(trace)} step(s):"]
    lines += [f"  {i:>3}. {name:<{width}}  {step}  -> {variant}" for i, (name, step, variant) in enumerate(trace, 1)]
    who = f"actor {actor!r} raised " if actor is not None else "violation: "
    lines.append(f"{who}{type(error).__name__}: {error}")
    return "\n".join(lines)


def independent(a: Move, b: Move) -> bool:
    """Whether two moves commute, so that only one of their orders needs exploring.

    Moves of the same actor never commute (they are its program order, or alternative variants of
    one step). A step with no target touches everything; a target ending in "*" touches every
    target with that prefix. Otherwise two reads commute, and so do any two steps on different
    targets.
    """
    if a[0] == b[0]:
        return False
    first, second = a[1], b[1]
    if first.target is None or second.target is None:
        return False
    return not _overlap(first.target, second.target) or not (first.writes or second.writes)


def _overlap(first: str, second: str) -> bool:
    """Whether two targets may name the same object: equal, or one is a
    family ("job-*") the other belongs to (a query over every job)."""
    if first.endswith("*") and second.startswith(first[:-1]):
        return True
    if second.endswith("*") and first.startswith(second[:-1]):
        return True
    return first == second


class _Abandoned(BaseException):
    """Thrown into an actor left paused when its execution is over, to unwind it without effects.

    A BaseException so that the ``except Exception`` of the code under test lets it through.
    """


class _Violation(Exception):
    """Internal carrier of an error found during an execution, turned into a Counterexample."""

    def __init__(self, error: BaseException, actor: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.actor = actor


class _Thread:
    """The explorer's view of one actor in one execution."""

    __slots__ = ("body", "enabled", "ended", "error", "glet", "name", "step", "variants")

    def __init__(self, actor: Actor) -> None:
        self.name = actor.name
        self.body = actor.body
        self.glet: Any = None
        self.step: Step | None = None  # pending step while paused at a point; None otherwise
        self.variants: tuple[str, ...] = ()
        self.enabled: Callable[[], bool] | None = None
        self.ended = False
        self.error: BaseException | None = None

    def run(self) -> None:
        """Greenlet body: run the actor and record how it ended, for the explorer to judge."""
        try:
            self.body()
        except _Abandoned:
            pass
        except BaseException as exc:  # judged by the explorer, in the main greenlet
            self.error = exc
        self.ended = True
        self.step = None


def _is_crash(error: BaseException, expected: tuple[type[BaseException], ...]) -> bool:
    """A crash is a simulated process death: any class named ``Crash`` in its MRO, or an expected type."""
    return isinstance(error, expected) or any(cls.__name__ == "Crash" for cls in type(error).__mro__)


class Scheduler:
    """The actors' side of the explorer: ``point`` is where an actor hands control back."""

    def __init__(self, expected: tuple[type[BaseException], ...] = ()) -> None:
        self._expected = expected
        self._threads: list[_Thread] = []
        self._running: _Thread | None = None
        self._hub: Any = None
        self._dead = False
        self._crashed: list[str] = []

    def point(self, step: Step, variants: Sequence[str] = ("ok",), enabled: Callable[[], bool] | None = None) -> str:
        """Pause the calling actor here until the explorer picks it; return the chosen variant.

        ``enabled``, if given, is evaluated by the explorer: while it returns False the actor cannot
        be picked (a worker waiting for a message). Outside any actor (in build, check or finish) this
        is not a scheduling point: it returns the first variant at once, so fakes work there too.
        """
        thread = self._running
        if thread is None:
            return variants[0]
        if self._dead:
            raise _Abandoned
        if not variants:
            raise ValueError(f"actor {thread.name!r}: point({step}) offers no variant")
        thread.step = step
        thread.variants = variants if isinstance(variants, tuple) else tuple(variants)
        thread.enabled = enabled
        chosen = self._hub.switch()
        if self._dead:
            raise _Abandoned
        return cast(str, chosen)

    @property
    def current_actor(self) -> str:
        """Name of the actor that is running, or "" outside any actor (build, check, finish)."""
        return "" if self._running is None else self._running.name

    @property
    def unfinished(self) -> list[str]:
        """Actors that have not ended (in ``finish``: those waiting forever), in the order given."""
        return [thread.name for thread in self._threads if not thread.ended]

    @property
    def crashed(self) -> list[str]:
        """Actors that ended by a crash (``Crash`` or an expected exception), in the order they did."""
        return list(self._crashed)

    def _start(self, actors: list[Actor]) -> None:
        """Create one greenlet per actor and run each until its first point (or its end)."""
        names = [actor.name for actor in actors]
        if len(set(names)) != len(names):
            raise ValueError(f"actor names must be unique, got {names}")
        self._hub = greenlet.getcurrent()
        self._threads = [_Thread(actor) for actor in actors]
        for thread in self._threads:
            thread.glet = greenlet.greenlet(thread.run, parent=self._hub)
            self._resume(thread, None)

    def _resume(self, thread: _Thread, variant: str | None) -> None:
        """Run one actor until its next point or its end; judge how it ended, if it did."""
        thread.step = None
        self._running = thread
        try:
            if variant is None:
                thread.glet.switch()
            else:
                thread.glet.switch(variant)
        finally:
            self._running = None
        error = thread.error
        if error is None:
            return
        if _is_crash(error, self._expected):
            thread.error = None
            self._crashed.append(thread.name)
        elif isinstance(error, KeyboardInterrupt | SystemExit):
            raise error
        else:
            raise _Violation(error, thread.name)

    def _moves(self, allow_faults: bool) -> tuple[list[Move], list[tuple[_Thread, int]]]:
        """The moves allowed now, in a stable order (actors as given, variants as given)."""
        moves: list[Move] = []
        actions: list[tuple[_Thread, int]] = []
        for thread in self._threads:
            step = thread.step
            if step is None:
                continue
            enabled = thread.enabled
            if enabled is not None:
                try:
                    ready = enabled()
                except Exception as exc:
                    raise _Violation(exc, thread.name) from exc
                if not ready:
                    continue
            variants = thread.variants if allow_faults else thread.variants[:1]
            for index, variant in enumerate(variants):
                moves.append((thread.name, step, variant))
                actions.append((thread, index))
        return moves, actions

    def _abandon(self) -> None:
        """Unwind every actor still paused, so none of its code after the pause ever has an effect.

        The execution is marked dead first: any point reached while unwinding (a ``finally`` calling a
        port) raises again instead of pausing.
        """
        self._dead = True
        for thread in self._threads:
            if thread.glet is None or thread.ended:
                continue
            self._running = thread
            try:
                thread.glet.throw(_Abandoned())
            finally:
                self._running = None
            thread.ended = True


class _Chooser(Protocol):
    """How an execution picks its moves: exhaustively (explore) or by drawing (run_drawn)."""

    def pick(self, depth: int, moves: list[Move]) -> int | None:
        """Index of the move to run at this depth, or None to stop the execution here."""

    def quiescent(self, depth: int) -> None:
        """The execution reached a state where no actor can move, at this depth."""


@attrs.frozen
class _Outcome:
    complete: bool
    trace: list[Move]


def _guard(check: Callable[[], None]) -> None:
    """Run a check or finish callback, carrying its failure out as a violation."""
    try:
        check()
    except Exception as exc:
        raise _Violation(exc) from exc


def _execute(
    build: Build, chooser: _Chooser, *, max_faults: int, max_steps: int, expected: tuple[type[BaseException], ...]
) -> _Outcome:
    """Run one execution from a fresh world, asking the chooser at every step."""
    scheduler = Scheduler(expected)
    scenario = build(scheduler)
    trace: list[Move] = []
    try:
        scheduler._start(scenario.actors)
        _guard(scenario.check)
        faults = 0
        while True:
            depth = len(trace)
            moves, actions = scheduler._moves(faults < max_faults)
            if not moves:
                chooser.quiescent(depth)
                _guard(scenario.finish)
                return _Outcome(True, trace)
            if depth >= max_steps:
                raise BoundExceeded(f"an execution is longer than max_steps={max_steps}; trace so far:\n{trace!r}")
            index = chooser.pick(depth, moves)
            if index is None:
                return _Outcome(False, trace)
            thread, variant = actions[index]
            trace.append(moves[index])
            faults += variant > 0
            scheduler._resume(thread, thread.variants[variant])
            _guard(scenario.check)
    except _Violation as violation:
        raise Counterexample(trace, violation.error, violation.actor) from violation.error
    finally:
        scheduler._abandon()


class _Node:
    """A state on the depth-first path: its moves, the one being explored, those done, its sleep set."""

    __slots__ = ("current", "done", "moves", "sleep")

    def __init__(self, moves: list[Move], sleep: frozenset[Move], current: int) -> None:
        self.moves = moves
        self.sleep = sleep
        self.current = current
        self.done: list[Move] = []


_NO_SLEEP: Final[frozenset[Move]] = frozenset()


class _DepthFirst:
    """The exhaustive chooser: replays the recorded path, then extends it with the first awake move."""

    def __init__(self, reduction: bool) -> None:
        self.reduction = reduction
        self.stack: list[_Node] = []
        self.pruned = 0

    def pick(self, depth: int, moves: list[Move]) -> int | None:
        """Replay the recorded choice below the stack top; past it, open a new node."""
        stack = self.stack
        if depth < len(stack):
            node = stack[depth]
            if node.moves != moves:
                raise ReplayDivergence(f"at step {depth + 1}: recorded moves {node.moves}, now {moves}")
            return node.current
        sleep = self._child_sleep()
        asleep = sum(move in sleep for move in moves) if sleep else 0
        self.pruned += asleep
        if asleep == len(moves):
            return None
        current = 0
        while moves[current] in sleep:
            current += 1
        stack.append(_Node(moves, sleep, current))
        return current

    def quiescent(self, depth: int) -> None:
        """A replayed execution must not end before the recorded path does."""
        if depth < len(self.stack):
            raise ReplayDivergence(f"at step {depth + 1}: recorded moves {self.stack[depth].moves}, now none")

    def _child_sleep(self) -> frozenset[Move]:
        """Sleep set of the state reached through the top node's current move.

        Moves asleep at the parent, or already explored there, stay asleep if they commute with the
        move taken: every order that would start with them has been (or will be) covered from there.
        """
        if not self.reduction or not self.stack:
            return _NO_SLEEP
        parent = self.stack[-1]
        if not parent.sleep and not parent.done:
            return _NO_SLEEP
        taken = parent.moves[parent.current]
        asleep = {move for move in parent.sleep if independent(move, taken)}
        asleep.update(move for move in parent.done if independent(move, taken))
        return frozenset(asleep) if asleep else _NO_SLEEP

    def backtrack(self) -> bool:
        """Advance the deepest node with an awake move left; False once everything is explored."""
        stack = self.stack
        while stack:
            node = stack[-1]
            moves = node.moves
            node.done.append(moves[node.current])
            for index in range(node.current + 1, len(moves)):
                if moves[index] not in node.sleep:
                    node.current = index
                    return True
            stack.pop()
        return False


def explore(
    build: Build,
    *,
    max_faults: int = 0,
    max_executions: int = 200_000,
    max_steps: int = 10_000,
    expected: tuple[type[BaseException], ...] = (),
    reduction: bool = True,
) -> Report:
    """Run every schedule of the scenario, depth-first; return what it took.

    A path may choose a non-zero variant at most ``max_faults`` times. Raises Counterexample at the
    first violation. Raises BoundExceeded if more than ``max_executions`` complete executions would
    be needed, or one execution takes more than ``max_steps`` steps (a livelock), so a test never
    silently stops short of exhaustive. ``reduction=False`` disables sleep sets (every interleaving).
    """
    chooser = _DepthFirst(reduction)
    executions = steps = blocked = 0
    while True:
        outcome = _execute(build, chooser, max_faults=max_faults, max_steps=max_steps, expected=expected)
        steps += len(outcome.trace)
        if outcome.complete:
            executions += 1
            if executions > max_executions:
                raise BoundExceeded(f"more than max_executions={max_executions} executions needed")
        else:
            blocked += 1
        if not chooser.backtrack():
            return Report(executions=executions, steps=steps, pruned=chooser.pruned, blocked=blocked)


class _Drawn:
    """The drawing chooser: every choice among two or more moves comes from ``draw``."""

    def __init__(self, draw: Callable[[int], int]) -> None:
        self.draw = draw

    def pick(self, depth: int, moves: list[Move]) -> int:
        """Ask ``draw`` only when there is a real choice, so shrinking has less to chew on."""
        count = len(moves)
        if count == 1:
            return 0
        index = self.draw(count)
        if not 0 <= index < count:
            raise ValueError(f"draw({count}) returned {index}, outside [0, {count})")
        return index

    def quiescent(self, depth: int) -> None:
        """Nothing recorded to compare with."""


def run_drawn(
    build: Build,
    draw: Callable[[int], int],
    *,
    max_faults: int = 0,
    max_steps: int = 10_000,
    expected: tuple[type[BaseException], ...] = (),
) -> list[Move]:
    """Run one schedule whose every choice is ``draw(n)``, an index among the ``n`` allowed moves.

    Moves are in the same stable order as in ``explore``; ``draw`` is not called when only one move
    is allowed. For hypothesis: ``draw = lambda n: data.draw(st.integers(0, n - 1))``, so that a
    counterexample shrinks to a short trace. Returns the trace; raises Counterexample on a violation.
    """
    return _execute(build, _Drawn(draw), max_faults=max_faults, max_steps=max_steps, expected=expected).trace
