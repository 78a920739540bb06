"""The chaos run's verdicts, report and chart."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from chaos.invariants import Answer


@attrs.frozen
class Request:
    key: str | None
    job_id: str | None
    status: int  # 0: the invocation crashed, nobody was answered
    faults: tuple[str, ...]
    settled: bool
    latency_ms: float


def answers(requests: list[Request], job_id_for_key: Callable[[str], str]) -> list[Answer]:
    """The requests as the invariant checker reads them; a crashed request
    with a key is about that key's job."""
    found = []
    for request in requests:
        job_id = request.job_id or (job_id_for_key(request.key) if request.key else None)
        if job_id is not None:
            found.append(Answer(job_id, request.status, request.settled))
    return found


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
        f"\nreconciler settled: {figures['reconciler_settled']}, steps run: {figures['processed']} "
        f"({figures['processed_again']} again after a claim expired), left PROCESSING: {figures['left_processing']}"
    )
    print("\ninvariants:")
    for name, verdict in figures["invariants"].items():
        print(f"  {name}: {verdict}")
    print(f"\nwritten: {out / 'report.json'}, {out / 'chaos.png'}")
