"""Invariants I1-I10, checked on what a run leaves behind (I10, the
owner's cancel, by the simulation's world as it runs: ``tests/simulation/world.py``).

One checker for the stateful test, the simulation and the chaos run. It
reads the answers the clients were given, the jobs as stored, the messages
still in the queue and the runs of the processing step, and repairs
nothing: a message that was wrongly deleted is simply not there.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

import attrs

from domain.failures import FailureKind
from domain.job import FINAL, TAKEN, Job, JobStatus

# Answers about the request, not the job: they promise nothing about it.
ABOUT_THE_REQUEST = frozenset({404, 409, 422})
NAMES = ("I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9", "I10")


@attrs.frozen
class Answer:
    """What one request was told, in the order the requests for a job ran.
    ``status`` 0: the invocation died and nobody was told anything."""

    job_id: str
    status: int
    settled: bool = True


@attrs.frozen
class Run:
    """One run of the processing step, as the step saw its job."""

    job_id: str
    attempt: int
    started_at: datetime
    lease_until: datetime
    # The episode's enqueue_id: a re-run's attempts count from one again.
    episode: str = ""

    @classmethod
    def of(cls, job: Job) -> Run:
        assert job.claim_until is not None
        return cls(job.job_id, job.claims, job.updated_at, job.claim_until, job.enqueue_id or "")


@attrs.frozen
class Message:
    job_id: str
    enqueue_id: str


@attrs.frozen
class Final:
    """A final state, as stored and as its completion event tells it."""

    job_id: str
    status: str
    finished_at: datetime

    @classmethod
    def of(cls, job: Job) -> Final:
        return cls(job.job_id, job.status.value, job.updated_at)


def event_problems(events: Collection[Final], stored: Collection[Final], jobs: Mapping[str, Job]) -> list[str]:
    """I8: an event is emitted if and only if its final state was stored
    (at least once): none for a state never stored, and every stored final
    state announced."""
    problems = [
        f"{event.job_id}: event for {event.status} at {event.finished_at}, never stored"
        for event in events
        if event not in stored
    ]
    for job in jobs.values():
        if job.status in FINAL and Final.of(job) not in events:
            problems.append(f"{job.job_id}: {job.status.value} stored, never announced")
    return problems


def binding(answers: Iterable[Answer]) -> dict[str, Answer]:
    """Each job's last answer that says something about the job."""
    last: dict[str, Answer] = {}
    for answer in answers:
        if answer.status not in ABOUT_THE_REQUEST and answer.status != 0:
            last[answer.job_id] = answer
    return last


def message_vanished(job: Job) -> bool:
    """FAILED by the reconciler for want of a message: MessageExpired, ClaimExpired."""
    error = job.last_error
    return (
        job.status is JobStatus.FAILED
        and error is not None
        and (error.kind is FailureKind.UNDELIVERED or error.code == "ClaimExpired")
    )


def live(job: Job, messages: Collection[Message]) -> bool:
    return job.status is JobStatus.QUEUED and Message(job.job_id, job.enqueue_id or "") in messages


def check(
    *,
    answers: Iterable[Answer],
    jobs: Mapping[str, Job],
    messages: Collection[Message],
    runs: Iterable[Run],
    now: datetime,
    lost: Collection[str] = (),
    unexplained_allowed: int = 0,
    max_attempts: int = 3,
    events: Collection[Final] | None = None,
    finals: Collection[Final] = (),
    cancelled: Collection[str] = (),
) -> dict[str, list[str]]:
    """Violations by invariant, at quiescence: every actor stopped, the
    queue drained by honest workers, the reconciler run. ``lost``: jobs whose
    message an adversary removed (deleted, or let expire). ``events``: the
    completion events put, and ``finals`` every final state ever stored (I8,
    checked when given). ``cancelled``: jobs their owner's cancel wrote to in
    their current episode."""
    answers = list(answers)
    last = binding(answers)
    problems: dict[str, list[str]] = defaultdict(list)
    for job_id, answer in last.items():
        job = jobs.get(job_id)
        status = None if job is None else job.status
        if status is JobStatus.CANCELLED and job_id in cancelled:
            continue  # its owner cancelled it since: true of any earlier answer
        if answer.status == 202:
            if job is None or not (status in TAKEN or live(job, messages)):
                problems["I1"].append(f"{job_id}: 202 but {status}")
        elif answer.status == 503 and status not in (None, JobStatus.PENDING):
            problems["I2"].append(f"{job_id}: 503 but {status}")
        elif (
            answer.status == 500
            and answer.settled
            and (job is None or status is not JobStatus.PENDING or not job.last_error)
        ):
            problems["I3"].append(f"{job_id}: settled 500 but {status}")
        elif 400 <= answer.status < 500 and job is not None:
            problems["I4"].append(f"{job_id}: {answer.status} but the job was written")
    crashed = {a.job_id for a in answers if a.status == 0}
    unexplained = [job_id for job_id in jobs if job_id not in last and job_id not in crashed]
    if len(unexplained) > unexplained_allowed:
        problems["I4"].append(f"jobs no request accounts for: {unexplained[:3]}")
    for job in jobs.values():
        if message_vanished(job) and job.job_id not in lost:
            # The reconciler settled it because its message left the queue
            # with no worker finishing the job: only an adversary may do that.
            problems["I5"].append(f"{job.job_id}: its message vanished ({job.last_error})")
        if job.status is JobStatus.QUEUED and not live(job, messages):
            problems["I5"].append(f"{job.job_id}: QUEUED without a live message")
        if job.status is JobStatus.PROCESSING and job.claim_expired(now):
            problems["I7"].append(f"{job.job_id}: PROCESSING under an expired claim")
        if job.status is JobStatus.QUEUED and job.awaiting_confirmation and job.lease_expired(now):
            problems["I7"].append(f"{job.job_id}: QUEUED, unconfirmed, its producer gone")
    problems["I6"].extend(run_problems(runs, last, max_attempts))
    problems["I9"].extend(key_problems(jobs.values()))
    if events is not None:
        problems["I8"].extend(event_problems(events, finals, jobs))
    return {name: problems[name] for name in NAMES if problems[name]}


def key_problems(jobs: Iterable[Job]) -> list[str]:
    """I9: a caller's Idempotency-Key names one job, whichever id key made
    its id (the stored jobs; none here has expired)."""
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for job in jobs:
        if job.idempotency_key is not None:
            by_key[(job.owner, job.idempotency_key)].append(job.job_id)
    return [f"key {key} of {owner}: jobs {sorted(ids)}" for (owner, key), ids in by_key.items() if len(ids) > 1]


def run_problems(runs: Iterable[Run], last: Mapping[str, Answer], max_attempts: int) -> list[str]:
    """At least once, never concurrently, never after a 503 or a 4xx."""
    by_job: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_job[run.job_id].append(run)
    problems = []
    for job_id, job_runs in by_job.items():
        answer = last.get(job_id)
        if answer is not None and (answer.status == 503 or 400 <= answer.status < 500):
            problems.append(f"{job_id}: processed after a {answer.status}")
        episodes: dict[str, list[int]] = defaultdict(list)
        for run in job_runs:
            episodes[run.episode].append(run.attempt)
        for attempts in episodes.values():
            if attempts != sorted(set(attempts)) or attempts[-1] > max_attempts:
                problems.append(f"{job_id}: attempts {attempts}")
        for before, after in itertools.pairwise(job_runs):
            if after.started_at < before.lease_until:
                problems.append(f"{job_id}: attempt {after.attempt} began inside attempt {before.attempt}'s lease")
    return problems


def verdicts(problems: Mapping[str, list[str]], unchecked: Collection[str] = ()) -> dict[str, str]:
    """Each invariant's verdict; one the run could not check says so
    rather than hold vacuously."""

    def verdict(name: str) -> str:
        if name in unchecked:
            return "not checked"
        return "BROKEN: " + "; ".join(problems[name][:3]) if name in problems else "holds"

    return {name: verdict(name) for name in NAMES}
