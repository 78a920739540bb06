"""The chaos run's verdicts, report and chart."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import attrs

from adapters.runtime import UuidIds
from domain.job import TAKEN, Job, JobStatus

# Answers about a request, not about the job it names: they change nothing.
ABOUT_THE_REQUEST = {409, 422}


@attrs.frozen
class Request:
    key: str | None
    job_id: str | None
    status: int  # 0: the invocation crashed, nobody was answered
    faults: tuple[str, ...]
    settled: bool
    latency_ms: float


def check_invariants(
    requests: list[Request], jobs: list[Job], messages_left: int, processed: Counter[str]
) -> dict[str, str]:
    by_id = {job.job_id: job for job in jobs}
    last: dict[str, Request] = {}
    for request in requests:
        job_id = request.job_id or (UuidIds().job_id_for_key(request.key) if request.key else None)
        if job_id is not None and request.status not in ABOUT_THE_REQUEST:
            last[job_id] = request
    problems: dict[str, list[str]] = defaultdict(list)
    for job_id, request in last.items():
        job = by_id.get(job_id)
        status = None if job is None else job.status
        if request.status == 202 and status not in TAKEN:
            problems["I1"].append(f"{job_id}: 202 but {status}")
        if request.status == 503 and (status not in (None, JobStatus.PENDING) or processed[job_id]):
            problems["I2"].append(f"{job_id}: 503 but {status}, processed {processed[job_id]}")
        if (
            request.status == 500
            and request.settled
            and (job is None or status is not JobStatus.PENDING or not job.last_error)
        ):
            problems["I3"].append(f"{job_id}: settled 500 but {status}")
        if 400 <= request.status < 500 and job is not None:
            problems["I4"].append(f"{job_id}: {request.status} but the job was written")
    keyless_crashes = sum(1 for r in requests if r.status == 0 and r.key is None)
    unexplained = [job_id for job_id in by_id if job_id not in last]
    if len(unexplained) > keyless_crashes:
        problems["I4"].append(f"{len(unexplained)} jobs no request accounts for")
    queued = [job.job_id for job in jobs if job.status is JobStatus.QUEUED]
    if queued or messages_left:
        problems["I5"].append(f"{len(queued)} jobs QUEUED, {messages_left} messages left")
    twice = [job_id for job_id, count in processed.items() if count > 1]
    if twice:
        problems["I6"].append(f"processed more than once: {twice}")
    names = ("I1", "I2", "I3", "I4", "I5", "I6")
    return {name: "BROKEN: " + "; ".join(problems[name][:3]) if problems[name] else "holds" for name in names}


def draw_chart(requests: list[Request], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label = {0: "crashed", 202: "202", 409: "409", 422: "422", 500: "500", 503: "503"}
    outcomes = sorted({label.get(r.status, str(r.status)) for r in requests})
    kinds = ["none", *sorted({f for r in requests for f in r.faults})]
    counts = {k: Counter[str]() for k in kinds}
    for request in requests:
        for kind in set(request.faults) or {"none"}:
            counts[kind][label.get(request.status, str(request.status))] += 1
    figure, (bars, spread) = plt.subplots(1, 2, figsize=(15, 6))
    bottom = [0] * len(kinds)
    for outcome in outcomes:
        heights = [counts[k][outcome] for k in kinds]
        bars.bar(kinds, heights, bottom=bottom, label=outcome)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    bars.set_title("Answers by fault met during the request")
    bars.set_ylabel("requests")
    bars.tick_params(axis="x", rotation=35)
    bars.legend(title="answer")
    groups = [[r.latency_ms for r in requests if label.get(r.status, str(r.status)) == o] for o in outcomes]
    spread.boxplot(groups, orientation="horizontal", showfliers=False)
    jitter = random.Random(0)
    for row, latencies in enumerate(groups, start=1):
        spread.scatter(latencies, [row + jitter.uniform(-0.2, 0.2) for _ in latencies], s=8, alpha=0.5)
    spread.set_yticks(range(1, len(outcomes) + 1), [f"{o} (n={len(g)})" for o, g in zip(outcomes, groups, strict=True)])
    spread.set_xscale("log")
    spread.set_title("Time to answer, by answer")
    spread.set_xlabel("milliseconds (log scale)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def print_report(figures: dict[str, Any], out: Path) -> None:
    print(f"\nchaos run: {figures['submissions']} submissions, seed {figures['seed']}")
    sections = [("answers", "answers by status (0: crashed)"), ("faults", "faults injected"), ("metrics", "metrics")]
    for key, title in sections:
        print(f"\n{title}:")
        for name, value in figures[key].items():
            print(f"  {value:>6}  {name}")
    print(
        f"\nreconciler settled: {figures['reconciler_settled']}, jobs processed: {figures['processed']}, "
        f"left PROCESSING (at-most-once): {figures['left_processing']}"
    )
    print("\ninvariants:")
    for name, verdict in figures["invariants"].items():
        print(f"  {name}: {verdict}")
    print(f"\nwritten: {out / 'report.json'}, {out / 'chaos.png'}")
