"""`make chaos`: the whole system on an embedded moto server, under a fault
mix, then invariants I1-I7 checked against DynamoDB and SQS.

Submissions go through ``entrypoints.api`` (some with Idempotency-Keys,
some retried after a 503, 500 or a crash, a few reusing a key with another
body); the worker handler takes batches as they come; at the end the faults
stop, every lease passes, the reconciler runs and the worker drains the
queue. Serially, faults are drawn from a seeded random source and a seed
reproduces a run's faults and answers. With --concurrent, producer threads
and polling worker threads run at once, with latency on DynamoDB calls, so
that their calls interleave as in production.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from chaos.faults import AwsError, Crash, Fault, Raise, apply, crash, never_connected, operation_of, read_timeout
from chaos.invariants import check, verdicts
from chaos.report import Request, answers, draw_chart, print_report, recovery, shares_by_fault

if TYPE_CHECKING:
    from chaos.system import System

# Per AWS call. Heavy enough that some requests exhaust their four send
# attempts (503) and some rollbacks fail (unsettled 500).
DEFAULT_MIX = (
    "sqs_throttled=0.12,sqs_unavailable=0.12,sqs_lost=0.06,sqs_not_sent=0.05,sqs_permanent=0.01,"
    "ddb_throttled=0.06,ddb_lost=0.03,crash=0.01"
)


# name -> (operations it hits, the fault)
KINDS: dict[str, tuple[frozenset[str], Fault]] = {
    "sqs_throttled": (frozenset({"SendMessage"}), AwsError(400, "RequestThrottled", "RequestThrottled")),
    "sqs_unavailable": (frozenset({"SendMessage"}), AwsError(503, "ServiceUnavailable", "ServiceUnavailable")),
    "sqs_lost": (frozenset({"SendMessage"}), Raise(read_timeout, delivered=True)),
    "sqs_not_sent": (frozenset({"SendMessage"}), Raise(never_connected)),
    "sqs_permanent": (
        frozenset({"SendMessage"}),
        AwsError(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"),
    ),
    "ddb_throttled": (frozenset({"PutItem", "GetItem"}), AwsError(400, "ProvisionedThroughputExceededException")),
    "ddb_lost": (frozenset({"PutItem"}), Raise(read_timeout, delivered=True)),
    "crash": (frozenset({"PutItem", "SendMessage", "GetItem"}), Raise(crash, delivered=False)),
}


@attrs.define
class RandomFaults:
    """Draws a fault (or none) for every call of the clients it watches, after
    the call's latency (``latency_s``, per operation) has passed."""

    mix: dict[str, float]
    rng: random.Random
    enabled: bool = True
    latency_s: dict[str, float] = attrs.Factory(dict)
    injected: Counter[str] = attrs.Factory(Counter)
    _local: threading.local = attrs.Factory(threading.local)
    _lock: threading.Lock = attrs.Factory(threading.Lock)

    @property
    def met(self) -> list[str]:
        """The faults the current thread's request met."""
        if not hasattr(self._local, "met"):
            self._local.met = []
        met: list[str] = self._local.met
        return met

    def new_request(self) -> None:
        self._local.met = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send", self._before_send)

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        operation = operation_of(request)
        # Injected network latency widens the windows between the actors' calls.
        delay = self.latency_s.get(operation, 0.0)
        if delay:
            time.sleep(delay)
        if not self.enabled:
            return None
        with self._lock:
            draw = self.rng.random()
        for name, probability in self.mix.items():
            operations, fault = KINDS[name]
            if operation in operations:
                if draw < probability:
                    with self._lock:
                        self.injected[name] += 1
                    self.met.append(name)
                    return apply(fault, request)
                draw -= probability
        return None


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        if name not in KINDS:
            raise SystemExit(f"unknown fault {name!r}; known: {', '.join(KINDS)}")
        mix[name] = float(value)
    return mix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=300, help="how many API requests (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="reproduces a run (default: %(default)s)")
    parser.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help=f"fault=probability per AWS call, comma-separated; faults: {', '.join(KINDS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("chaos-report"), help="where the report and chart go (default: %(default)s)"
    )
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="producers and workers in threads at the same time (a seed then fixes the faults' mix, not the run)",
    )
    parser.add_argument(
        "--producers", type=int, default=4, help="producer threads, --concurrent (default: %(default)s)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="polling worker threads, --concurrent (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=20.0,
        help="latency added to each DynamoDB PutItem and GetItem, --concurrent (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    from chaos.system import System

    faults = RandomFaults(parse_mix(args.mix), random.Random(args.seed + 1))
    with System(faults, seed=args.seed) as system:
        if args.concurrent:
            faults.latency_s = {"PutItem": args.latency_ms / 1000, "GetItem": args.latency_ms / 1000}
            requests = concurrently(system, faults, args.submissions, args.producers, args.workers, args.seed)
        else:
            requests = one_at_a_time(system, faults, args.submissions, args.seed)
        faults.enabled = False
        settled = system.settle()
        jobs = {job.job_id: job for job in system.jobs()}
        problems = check(
            answers=answers(requests, system.job_id_for_key),
            jobs=jobs,
            messages=set(system.messages_left()),
            runs=system.runs,
            now=system.clock.now(),
            unexplained_allowed=sum(1 for r in requests if r.status == 0 and r.key is None),
            max_attempts=system.settings.job_max_attempts,
        )
        # I8 needs every event put; this run does not read its bus. I10
        # judges cancels, and this run makes none (the simulation does).
        verdict = verdicts(problems, unchecked={"I8", "I10"})
        args.out.mkdir(parents=True, exist_ok=True)
        figures = {
            "seed": args.seed,
            "submissions": args.submissions,
            "mode": f"concurrent: {args.producers} producers, {args.workers} workers" if args.concurrent else "serial",
            "answers": dict(sorted(Counter(str(r.status or "crashed") for r in requests).items())),
            "answer_shares_by_fault": shares_by_fault(requests),
            "faults": dict(sorted(faults.injected.items())),
            "metrics": dict(sorted(system.metrics.items())),
            "reconciler_settled": settled,
            "recovery": recovery(system.metrics, settled),
            "processed": len(system.runs),
            "processed_again": len(system.runs) - len({run.job_id for run in system.runs}),
            # Claims expire and are taken over: nothing should be left here.
            "left_processing": sum(job.status.value == "PROCESSING" for job in jobs.values()),
            "invariants": verdict,
        }
        (args.out / "report.json").write_text(json.dumps(figures, indent=2) + "\n")
        draw_chart(requests, figures["recovery"], args.out / "chaos.png")
        print_report(figures, args.out)
    return 0 if not problems else 1


def one_at_a_time(system: System, faults: RandomFaults, submissions: int, seed: int) -> list[Request]:
    """Submissions one after another, a worker batch every tenth: a seed
    reproduces the run's faults and answers."""
    rng = random.Random(seed)
    keys: list[tuple[str, dict[str, Any]]] = []
    requests = []
    for n in range(submissions):
        key, payload = choose(rng, keys, n)
        requests.append(submit(system, faults, key, payload))
        if n % 10 == 9:
            system.work_once()
        progress(n + 1, submissions)
    return requests


def concurrently(
    system: System, faults: RandomFaults, submissions: int, producers: int, workers: int, seed: int
) -> list[Request]:
    """Producer threads submit while worker threads poll the queue. A key is
    only ever retried by the thread that made it, so each key's answers have
    an order; different keys race freely."""
    done = threading.Event()
    requests: list[Request] = []
    counter = itertools.count()

    def produce(thread: int) -> None:
        rng = random.Random(seed * 1000 + thread)
        keys: list[tuple[str, dict[str, Any]]] = []
        for n in range(thread, submissions, producers):
            key, payload = choose(rng, keys, n)
            requests.append(submit(system, faults, key, payload))
            progress(next(counter) + 1, submissions)

    def work() -> None:
        while not done.is_set():
            system.work_once(wait_s=0.05)

    pollers = [threading.Thread(target=work, name=f"worker-{n}") for n in range(workers)]
    for poller in pollers:
        poller.start()
    try:
        with ThreadPoolExecutor(producers, thread_name_prefix="producer") as pool:
            list(pool.map(produce, range(producers)))
    finally:
        done.set()
        for poller in pollers:
            poller.join()
    return requests


def submit(system: System, faults: RandomFaults, key: str | None, payload: dict[str, Any]) -> Request:
    faults.new_request()
    started = time.perf_counter()
    try:
        answer = system.submit(payload, key)
        status, body = answer["statusCode"], json.loads(answer["body"])
    except Crash:
        status, body = 0, {}
    return Request(
        key=key,
        job_id=body.get("job_id"),
        status=status,
        faults=tuple(faults.met),
        settled=body.get("type") != "/problems/state-unsettled",
        latency_ms=(time.perf_counter() - started) * 1000,
    )


def choose(rng: random.Random, keys: list[tuple[str, dict[str, Any]]], n: int) -> tuple[str | None, dict[str, Any]]:
    """A new job, keyed or not, or a repeat of a key (its retry), and now
    and then a key reused with another body."""
    roll = rng.random()
    if keys and roll < 0.25:
        key, payload = rng.choice(keys)
        return key, payload if rng.random() > 0.1 else {**payload, "changed": True}
    payload = {"n": n, "size": rng.choice([1, 100, 2000])}
    if roll < 0.7:
        key = f"key-{n}"
        keys.append((key, payload))
        return key, payload
    return None, payload


_progress_lock = threading.Lock()


def progress(done: int, total: int) -> None:
    with _progress_lock:
        _draw_progress(done, total)


def _draw_progress(done: int, total: int) -> None:
    if done != total and done * 100 // total == (done - 1) * 100 // total:
        return  # redraw once per percent
    width = 40
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
