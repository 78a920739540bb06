"""The real domain code of producers, workers and the reconciler, run as
concurrent actors over in-memory ports that pause at every call.

Every port call is a scheduling point (``tests.simulation.explorer``), and
each can meet a fault: throttled, unavailable, answer lost (the write landed
or the message was stored), a crash before or after it. Clock jumps are
scheduling points too, so time can pass a lease, the grace period or a
deadline between any two calls of any actor.

The safety invariants are checked after every step against the messages
that are still in the queue; at quiescence honest workers drain what is
left (a deleted message is never delivered again unless a scenario's
adversary does it), the reconciler runs once every lease is over, and
``chaos.invariants.check`` judges the end state, liveness included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from chaos.faults import Crash
from chaos.invariants import Answer, Final, Message, Run, binding, check
from domain.budget import CLOCK_SKEW
from domain.cancel import CancelJob, Cancelled, CancelOutcome, CancelRequested
from domain.enqueue import EnqueueJob
from domain.job import FINAL, Job, JobStatus
from domain.outcomes import RerunOutcome
from domain.reconcile import ReconcileStuckJobs
from domain.work import ProcessJobMessage, RetryLater
from entrypoints.http_answers import http_answer
from ports.handlers import PermanentJobError, RetryableJobError
from ports.repository import StoreFailed
from tests.fakes import FakeMetrics
from tests.simulation.explorer import Actor, Scenario, Scheduler, Step
from tests.simulation.sim_ports import STEP_FAULTS, Sent, SimClock, incoming
from tests.simulation.wiring import GRACE, MAX_ATTEMPTS, RETENTION, WIRING, WORKER_TIMEOUT


@attrs.frozen
class Faults:
    """Faults for one actor: ``script`` forces a variant on the n-th call of
    an operation (``{"publish": ["lost", "lost"]}``); ``free`` lets the
    explorer choose any fault on the calls the script leaves open."""

    script: dict[str, Sequence[str]] = attrs.Factory(dict)
    free: bool = False


class World:
    """The stores, the actors' ports and the record of what everyone was told."""

    def __init__(self, scheduler: Scheduler, *, retention: timedelta = RETENTION) -> None:
        self.scheduler = scheduler
        self.clock = SimClock()
        self.jobs: dict[str, Job] = {}
        self.queue: list[Sent] = []
        self.retention = retention
        self.metrics = FakeMetrics()
        self.faults: dict[str, Faults] = {}
        self.calls: dict[tuple[str, str], int] = {}
        # What producers were told: every answer, and each job's binding one.
        self.answers: list[Answer] = []
        self.binding: dict[str, Answer] = {}
        self.accepted: set[str] = set()
        self.last_writer: dict[str, tuple[str, int]] = {}
        self.started: dict[str, int] = {}
        # Each actor's invocation end: Lambda stops it there, whatever it does.
        self.ends: dict[str, datetime] = {}
        self.steps = 0
        self.runs: list[Run] = []
        # Every final state stored, and every completion event put (I8).
        self.finals: set[Final] = set()
        self.events: list[Final] = []
        # Jobs whose message an adversary purged, or that expired while the actors ran.
        self.lost: set[str] = set()
        self.settling = False
        # The id keys each producer's environment knows (a rotation under way).
        self.id_keys: dict[str, tuple[int, int | None]] = {}
        # Tests swap in a defective worker to show that the exploration finds it.
        self.worker_class: type[ProcessJobMessage] = ProcessJobMessage
        # Each job's episode: 0, then one more for each re-run that began one.
        self.epoch: dict[str, int] = {}
        # Episodes (job_id, epoch) a canceller wrote: CANCELLED is then true
        # of any answer given in the episode (I1-I3).
        self.cancel_written: set[tuple[str, int]] = set()
        # The episode of each canceller's last write.
        self.cancel_epoch: dict[str, int] = {}
        # What cancels were told, by episode: the claims made by then (I10),
        # and whether the job was cancelled or asked to stop.
        self.cancel_told: dict[tuple[str, int], tuple[int, type[Cancelled | CancelRequested]]] = {}
        # Each claim as it was made, by (job_id, epoch, claim number): what its run saw.
        self.claimed_as: dict[tuple[str, int, int], Job] = {}
        # And the actor that made each claim.
        self.claimers: dict[tuple[str, int, int], str] = {}
        # Each job's enqueue_id as last written.
        self.last_episode: dict[str, str | None] = {}
        # What a handler's run found wrong: recorded, not raised, as the
        # worker takes whatever its handler raises for a failed job.
        self.violations: list[str] = []

    # -- the ports ---------------------------------------------------------

    def variant(self, op: str, target: str | None, writes: bool, faults: Sequence[str]) -> str:
        """Pause the calling actor before ``op``; the fault it meets, or "ok"."""
        actor = self.scheduler.current_actor
        plan = self.faults.get(actor, Faults())
        n = self.calls.get((actor, op), 0)
        self.calls[(actor, op)] = n + 1
        scripted = plan.script.get(op, ())
        if n < len(scripted):
            variant = self.scheduler.point(Step(op, target, writes), (scripted[n],))
        else:
            variant = self.scheduler.point(Step(op, target, writes), ("ok", *faults) if plan.free else ("ok",))
        self.started.setdefault(actor, self.steps)
        self.stop_if_timed_out(actor)
        return variant

    def stop_if_timed_out(self, actor: str) -> None:
        """Lambda ends an invocation at its timeout: a clock jump past it
        kills the actor before its next call has any effect."""
        end = self.ends.get(actor)
        if end is not None and self.clock.now() >= end:
            raise Crash

    def arrive(self, actor: str, timeout: timedelta) -> datetime:
        """The invocation starts now (a scheduling point, so that a clock jump
        can come before it or after it); returns its end."""
        self.scheduler.point(Step("arrive", f"arrive:{actor}", writes=False))
        self.ends[actor] = self.clock.now() + timeout
        return self.ends[actor]

    def live(self, job: Job) -> bool:
        return job.status is JobStatus.QUEUED and any(
            not s.deleted and s.message.job_id == job.job_id and s.message.enqueue_id == job.enqueue_id
            for s in self.available()
        )

    def available(self) -> list[Sent]:
        """Messages a receive can return: not deleted, not expired."""
        now = self.clock.now()
        return [s for s in self.queue if not s.deleted and s.at + self.retention > now]

    def wrote(self, job_id: str) -> None:
        actor = self.scheduler.current_actor
        self.steps += 1
        job = self.jobs[job_id]
        if job.status in FINAL:
            self.finals.add(Final.of(job))
        epoch = self.epoch.get(job_id, 0)
        claim = (job_id, epoch, job.claims)
        if job.status in (*FINAL, JobStatus.QUEUED) and job.claims and self.claimers.get(claim) == actor:
            # The claim's own worker retried the job or ended it: the attempt
            # that ran under that claim is over, and only that one (anyone
            # else's write leaves a run its whole lease).
            self.runs = [
                attrs.evolve(run, lease_until=min(run.lease_until, self.clock.now()))
                if (run.job_id, run.episode, run.attempt) == (job_id, job.enqueue_id or "", job.claims)
                else run
                for run in self.runs
            ]
        previous = self.last_episode.get(job_id)
        self.last_episode[job_id] = job.enqueue_id
        if actor.startswith("rerun") and job.enqueue_id is not None and job.enqueue_id != previous:
            # A re-run began an episode: what earlier requests were told was about the last one.
            self.epoch[job_id] = self.epoch.get(job_id, 0) + 1
            self.accepted.discard(job_id)
            self.binding.pop(job_id, None)
        epoch = self.epoch.get(job_id, 0)
        if job.status is JobStatus.PROCESSING and (job_id, epoch, job.claims) not in self.claimed_as:
            self.claimed_as[(job_id, epoch, job.claims)] = job
            self.claimers[(job_id, epoch, job.claims)] = actor
        if actor.startswith("cancel"):
            self.cancel_written.add((job_id, epoch))
            self.cancel_epoch[actor] = epoch
        if actor.startswith(("producer", "rerun")):
            self.last_writer[job_id] = (actor, self.steps)
            if job_id in self.binding and self.binding[job_id].status != 202:
                del self.binding[job_id]  # a later request may change what it said

    # -- invariants --------------------------------------------------------

    def check(self) -> None:
        """Safety after every step: each binding answer is still true."""
        assert not self.violations, self.violations
        if not self.settling:  # messages that expire while the actors run are the environment's loss
            self.lost.update(s.message.job_id for s in self.queue if not s.deleted and s not in self.available())
        for job_id in self.accepted:
            job = self.jobs.get(job_id)
            assert job is not None and (job.accepted or self.owner_cancelled(job)), f"I1: {job_id} 202, now {job}"
            if job.status is JobStatus.QUEUED and job_id not in self.lost:
                assert self.live(job), f"I1: {job_id} answered 202, QUEUED without a live message"
        for job_id, answer in self.binding.items():
            job = self.jobs.get(job_id)
            if job is not None and self.owner_cancelled(job):
                continue
            if answer.status == 503:
                assert job is None or job.status is JobStatus.PENDING, f"I2: {job_id} answered 503, now {job}"
            elif answer.status == 500 and answer.settled:
                assert job is not None and job.status is JobStatus.PENDING and job.last_error, f"I3: {job_id}: {job}"

    def owner_cancelled(self, job: Job) -> bool:
        """CANCELLED in an episode a canceller wrote: true after any earlier
        answer of that episode."""
        return job.status is JobStatus.CANCELLED and (job.job_id, self.epoch.get(job.job_id, 0)) in self.cancel_written

    def cancel_answered(self, actor: str, outcome: CancelOutcome) -> None:
        if isinstance(outcome, Cancelled | CancelRequested):
            job = outcome.job
            # The episode the cancel wrote to, or read (no step since the read).
            epoch = self.cancel_epoch.get(actor, self.epoch.get(job.job_id, 0))
            self.cancel_told[(job.job_id, epoch)] = (job.claims, type(outcome))

    def check_cancels(self) -> None:
        """At quiescence: a job answered CANCELLED still is, and one asked to
        stop has ended, unless a re-run began a new episode since (I10)."""
        for (job_id, epoch), (_, told) in self.cancel_told.items():
            job = self.jobs[job_id]
            if self.epoch.get(job_id, 0) != epoch:
                continue
            if told is Cancelled:
                assert job.status is JobStatus.CANCELLED, f"I10: {job_id} answered CANCELLED, now {job}"
            else:
                assert job.status in FINAL, f"I10: {job_id} asked to stop, never ended: {job}"

    def finish(self) -> None:
        """Quiescence: honest workers drain the queue, every claim passes and
        the redeliveries take dead workers' claims over, the grace passes and
        the reconciler runs; no job may then wait QUEUED (I5, I7). Only then
        the retention passes, the reconciler fails the jobs whose message an
        adversary took, and I1-I7 are judged on what is left."""
        self.settling = True
        self.drain()
        self.clock.current += WORKER_TIMEOUT + CLOCK_SKEW + timedelta(seconds=5)
        self.drain()
        self.clock.current += GRACE * 2
        self.reconcile_all()
        self.drain()
        for job in self.jobs.values():
            if job.status is JobStatus.QUEUED:
                assert not self.live(job), f"I7: {job.job_id} QUEUED with a live message no worker finished"
                assert job.job_id in self.lost, f"I5: {job.job_id} QUEUED without a live message"
        self.clock.current += self.retention
        self.reconcile_all()
        self.check()
        self.check_cancels()
        problems = check(
            # Each job's binding answer last; a 202 binds for good.
            answers=[a for a in self.answers if a.status in (0, 409, 422)]
            + list(self.binding.values())
            + [Answer(job_id, 202) for job_id in sorted(self.accepted)],
            jobs=self.jobs,
            messages={Message(s.message.job_id, s.message.enqueue_id) for s in self.available()},
            runs=self.runs,
            now=self.clock.now(),
            lost=self.lost,
            unexplained_allowed=len(self.jobs),
            max_attempts=MAX_ATTEMPTS,
            events=self.events,
            finals=self.finals,
            cancelled={job_id for job_id, epoch in self.cancel_written if epoch == self.epoch.get(job_id, 0)},
        )
        assert not problems, problems

    def reconcile_all(self) -> None:
        while self.reconciler()(self.clock.now() + timedelta(seconds=60)).found:
            pass

    def drain(self) -> None:
        for _ in range(10):
            handled = False
            for sent in self.available():
                try:
                    result = self.worker()(incoming(sent.message), self.clock.now() + WORKER_TIMEOUT)
                except StoreFailed:
                    continue
                if result.acknowledge:
                    sent.deleted = True
                handled = handled or result.acknowledge or isinstance(result, RetryLater)
            if not handled:
                return

    # -- the actors' use cases, wired to the simulated ports -----------------

    def enqueue(self, actor: str) -> EnqueueJob:
        return WIRING.build("enqueue_job", EnqueueJob, self, actor)

    def cancel(self, actor: str) -> CancelJob:
        return WIRING.build("cancel_job", CancelJob, self, actor)

    def worker(self, actor: str = "drain") -> ProcessJobMessage:
        return WIRING.build("process_job_message", ProcessJobMessage, self, actor)

    def reconciler(self, grace: timedelta = GRACE, event_grace: timedelta = GRACE) -> ReconcileStuckJobs:
        return WIRING.build("reconcile_stuck_jobs", ReconcileStuckJobs, self, "reconciler", grace, event_grace)

    def step(self, job_id: str, attempt: int) -> None:
        """The job's handler, in its ``attempt``-th run of the episode:
        records its run; then it returns, fails (a retry may help, or not),
        or its invocation crashes."""
        variant = self.variant("step", job_id, True, STEP_FAULTS)
        # The job as this run's claim made it (a cancel request may have changed it since).
        epoch = self.epoch.get(job_id, 0)
        job = self.claimed_as.get((job_id, epoch, attempt))
        if job is None:
            self.violations.append(f"{job_id}: a run of claim {attempt} of episode {epoch}, never made")
            raise Crash
        answer = self.binding.get(job.job_id)
        if answer is not None and answer.status in (503, 409, 422):
            self.violations.append(f"I6: {job.job_id} run after {answer}")
        told = self.cancel_told.get((job.job_id, epoch))
        if told is not None and job.claims > told[0]:
            self.violations.append(f"I10: {job.job_id} claimed again after its cancel: {job}")
        self.runs.append(Run.of(job))
        if variant == "crash":
            raise Crash
        if variant == "retryable":
            raise RetryableJobError("simulated")
        if variant == "permanent":
            raise PermanentJobError("simulated")

    def announced(self, final: Final) -> None:
        """A completion event reached the bus: its final state must be stored (I8)."""
        assert final in self.finals, f"I8: event for {final}, a state never stored"
        self.events.append(final)

    def answered(self, actor: str, outcome: RerunOutcome) -> None:
        if outcome.job_id is None:
            return
        said = http_answer(outcome)
        status = said.status
        answer = Answer(outcome.job_id, status, said.settled)
        self.answers.append(answer)
        if status == 202:
            self.accepted.add(outcome.job_id)
        writer = self.last_writer.get(outcome.job_id)
        if actor.startswith("rerun") and status in (500, 503) and (writer is None or writer[0] != actor):
            # A re-run the store failed before its episode began: the job is as it was.
            return
        if status in (404, 409, 422):
            assert writer is None or writer[0] != actor, f"I4: {actor} answered {status} after writing"
        elif writer is None or writer[0] == actor or writer[1] <= self.started.get(actor, self.steps):
            # Nobody else wrote the job since this request began: its answer binds.
            self.binding[outcome.job_id] = answer

    def scenario(self, actors: list[Actor], faults: dict[str, Faults] | None = None) -> Scenario:
        self.faults = faults or {}
        return Scenario(actors=actors, check=self.check, finish=self.finish)


__all__ = ["Faults", "World", "binding"]
