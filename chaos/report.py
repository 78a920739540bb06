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


LABELS = {0: "crashed"}
# What the system did to keep its answers true, as the metrics count it.
RECOVERY = {
    "SendRetries": "send retries",
    "Rollbacks": "rollbacks",
    "RollbackFailures": "rollbacks that failed",
    "JobRetries": "handler retries",
    "CompletionEventsRepaired": "events put again",
}


def label(status: int) -> str:
    return LABELS.get(status, str(status))


def shares_by_fault(requests: list[Request]) -> dict[str, dict[str, float]]:
    """For each fault a request met ("none" for none), the share of those
    requests that got each answer: raw counts would mostly show how often
    each fault was drawn."""
    counts: dict[str, Counter[str]] = {}
    for request in requests:
        for kind in set(request.faults) or {"none"}:
            counts.setdefault(kind, Counter())[label(request.status)] += 1
    return {
        kind: {answer: n / sum(answered.values()) for answer, n in sorted(answered.items())}
        for kind, answered in sorted(counts.items())
    }


def recovery(metrics: dict[str, int], reconciler_settled: int) -> dict[str, int]:
    """The recovery work of the run, by what a reader calls it."""
    return {
        **{RECOVERY[name]: metrics.get(name, 0) for name in RECOVERY},
        "settled by the reconciler": reconciler_settled,
    }


def draw_chart(requests: list[Request], work: dict[str, int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = shares_by_fault(requests)
    met = Counter(kind for r in requests for kind in set(r.faults) or {"none"})
    outcomes = sorted({label(r.status) for r in requests})
    kinds = sorted(shares, key=lambda kind: (kind != "none", kind))
    figure, (bars, spread, repairs) = plt.subplots(1, 3, figsize=(21, 6))
    bottom = [0.0] * len(kinds)
    for outcome in outcomes:
        heights = [100 * shares[k].get(outcome, 0.0) for k in kinds]
        bars.bar([f"{k}\n(n={met[k]})" for k in kinds], heights, bottom=bottom, label=outcome)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    bars.set_title("Answers by fault met during the request")
    bars.set_ylabel("% of the requests that met it")
    bars.tick_params(axis="x", rotation=35)
    bars.legend(title="answer", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    groups = [[r.latency_ms for r in requests if label(r.status) == o] for o in outcomes]
    spread.boxplot(groups, orientation="horizontal", showfliers=False)
    jitter = random.Random(0)
    for row, latencies in enumerate(groups, start=1):
        spread.scatter(latencies, [row + jitter.uniform(-0.2, 0.2) for _ in latencies], s=8, alpha=0.5)
    spread.set_yticks(range(1, len(outcomes) + 1), [f"{o} (n={len(g)})" for o, g in zip(outcomes, groups, strict=True)])
    spread.set_xscale("log")
    spread.set_title("Time to answer, by answer")
    spread.set_xlabel("milliseconds (log scale)")
    repairs.barh(list(work), list(work.values()))
    repairs.invert_yaxis()
    repairs.set_title("Recovery work: retries, rollbacks, the reconciler")
    repairs.set_xlabel("count over the run")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def print_report(figures: dict[str, Any], out: Path) -> None:
    print(f"\nchaos run: {figures['submissions']} submissions, seed {figures['seed']}")
    sections = [
        ("answers", "answers by status (0: crashed)"),
        ("faults", "faults injected"),
        ("recovery", "recovery work"),
        ("metrics", "metrics"),
    ]
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
