"""`make bench`: the service's API handler side by side with a minimal raw
boto3 handler making the same AWS calls, both on canned AWS answers at
botocore's transport (no network).

Prints a table and writes bench/results.json. Figures are medians over
rounds, with the spread (lowest and highest round).
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
ENV = {
    "TABLE_NAME": "jobs",
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    # As the stack sets it: the key is read from Secrets Manager at cold start.
    "JOB_ID_KEY_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:JobIdKey-bench",
}
# The former deployment, the key in the function's environment: the cold
# start without the read, side by side.
ENV_KEY = {**{k: v for k, v in ENV.items() if k != "JOB_ID_KEY_SECRET"}, "JOB_ID_KEY": "k" * 48}
EVENT = {
    "httpMethod": "POST",
    "path": "/jobs",
    "headers": {"Content-Type": "application/json"},
    # Signed, as every request behind the stack's API is (IAM authorization).
    "requestContext": {
        "requestId": "bench",
        "identity": {"userArn": "arn:aws:sts::123456789012:assumed-role/bench-app/session-1"},
    },
    "body": json.dumps({"type": "resize", "payload": {"width": 640, "height": 480, "source": "s3://b/k.png"}}),
    "isBase64Encoded": False,
}
GOALS = {"handler_overhead_ratio": 1.25, "cold_start_ratio": 1.3, "aws_calls_per_accepted_job": 3}
PROBE = """
import sys, time
sys.path[:0] = [{bundle!r}, {root!r}]
from bench import canned
canned.install()
if sys.argv[1].startswith("ours"):
    from entrypoints.api import handler
else:
    from bench.raw_handler import handler
from entrypoints.lambda_context import LocalContext
answer = handler({event!r}, LocalContext(20000))
print(dict(canned.CALLS), flush=True)
print(answer["statusCode"], flush=True)
"""


def main() -> int:
    os.environ.update(ENV)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    from bench import canned

    canned.install()
    ours, raw = handlers()
    results: dict[str, Any] = {}
    rows: list[tuple[str, str, str]] = []

    ours_us, raw_us = per_request(ours, raw)
    ratios = [o / r for o, r in zip(ours_us, raw_us, strict=True)]
    results["handler_us"] = summary(ours_us)
    results["raw_handler_us"] = summary(raw_us)
    results["handler_overhead_ratio"] = round(statistics.median(ratios), 3)
    rows.append(("per request, ours / raw boto3", f"{median(ours_us):.0f} / {median(raw_us):.0f} µs", ratio(ratios)))

    bundle = ensure_bundle()
    starts = cold_starts(bundle)
    ours_ms, env_key_ms, raw_ms = starts["ours"], starts["ours-env-key"], starts["raw"]
    cold = [o / r for o, r in zip(ours_ms, raw_ms, strict=True)]
    results["cold_start_ms"] = summary(ours_ms)
    results["cold_start_env_key_ms"] = summary(env_key_ms)
    results["raw_cold_start_ms"] = summary(raw_ms)
    results["cold_start_ratio"] = round(statistics.median(cold), 3)
    # Paired by round, as the ratio is: each round runs the three one after another.
    read_ms = [o - e for o, e in zip(ours_ms, env_key_ms, strict=True)]
    results["key_read_ms"] = summary(read_ms)
    rows.append(("cold start to first answer", f"{median(ours_ms):.0f} / {median(raw_ms):.0f} ms", ratio(cold)))
    rows.append(
        (
            "cold start, key read / key in env",
            f"{median(ours_ms):.0f} / {median(env_key_ms):.0f} ms",
            f"read costs {median(read_ms):+.0f} ms (rounds {min(read_ms):+.0f} to {max(read_ms):+.0f})",
        )
    )

    canned.CALLS.clear()
    for _ in range(100):
        ours(EVENT)
    results["aws_calls_per_accepted_job"] = sum(canned.CALLS.values()) / 100
    results["aws_calls_by_operation"] = {k: v / 100 for k, v in sorted(canned.CALLS.items())}
    rows.append(("AWS calls per accepted job", f"{results['aws_calls_per_accepted_job']:.0f}", "goal ≤ 3"))

    failure_ms, budget_ms = failure_answer(ours, canned.MODE)
    results["failure_answer_ms"] = round(median(failure_ms), 1)
    results["failure_answer_ms_spread"] = summary(failure_ms)
    results["failure_budget_ms"] = budget_ms
    rows.append(("answer under a persistent SQS failure", f"{median(failure_ms):.0f} ms", f"budget {budget_ms:.0f} ms"))

    size, largest = asset_size(bundle)
    results["asset_bytes"] = size
    results["asset_largest"] = largest
    rows.append(
        (
            "Lambda asset (unzipped)",
            f"{size / 1e6:.1f} MB",
            ", ".join(f"{k} {v / 1e6:.1f}" for k, v in list(largest.items())[:3]),
        )
    )

    results["goals"] = GOALS
    results["python"] = sys.version.split()[0]
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'value':>18}  ratio / goal")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>18}  {note}")
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}")
    return 0


def handlers() -> tuple[Callable[[dict[str, Any]], Any], Callable[[dict[str, Any]], Any]]:
    from bench import raw_handler
    from entrypoints.api import handler
    from entrypoints.lambda_context import LocalContext

    # The service's log lines and EMF cost what they cost in Lambda; only
    # where they go changes.
    handler(EVENT, LocalContext(20_000))
    for h in logging.getLogger("jobs").handlers:
        if isinstance(h, logging.StreamHandler):
            h.setStream(io.StringIO())

    def ours(event: dict[str, Any]) -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return handler(event, LocalContext(20_000))

    def raw(event: dict[str, Any]) -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return raw_handler.handler(event, LocalContext(20_000))

    return ours, raw


def per_request(
    ours: Callable[..., Any], raw: Callable[..., Any], rounds: int = 7, n: int = 600
) -> tuple[list[float], list[float]]:
    for _ in range(100):
        ours(EVENT), raw(EVENT)
    ours_us: list[float] = []
    raw_us: list[float] = []
    for _ in range(rounds):
        for fn, out in ((ours, ours_us), (raw, raw_us)):
            start = time.perf_counter()
            for _ in range(n):
                fn(EVENT)
            out.append((time.perf_counter() - start) / n * 1e6)
    return ours_us, raw_us


def ensure_bundle() -> Path:
    """The Lambda asset for this machine: runtime dependencies only."""
    import platform

    from infra.asset import bundle, source_hash

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = ROOT / "bench" / f".bundle-{source_hash()[:12]}-{version}"
    if not (target / "entrypoints").exists():
        bundle(target, python_version=version, platform=f"manylinux2014_{platform.machine()}")
    return target


def cold_starts(bundle: Path, rounds: int = 9) -> dict[str, list[float]]:
    """Each round starts a process for each: ours reading its key from
    Secrets Manager (as deployed), ours with the key in its environment,
    and the raw handler. Ours must read the secret exactly once."""
    probe = PROBE.format(bundle=str(bundle), root=str(ROOT), event=EVENT)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("JOB_ID_KEY")}
    envs = {"ours": {**base, **ENV}, "ours-env-key": {**base, **ENV_KEY}, "raw": {**base, **ENV}}
    reads = {"ours": 1, "ours-env-key": 0, "raw": 0}
    times: dict[str, list[float]] = {who: [] for who in envs}
    for _ in range(rounds):
        for who, env in envs.items():
            start = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-I", "-S", "-c", probe, who],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = (time.perf_counter() - start) * 1000
            lines = result.stdout.strip().splitlines()
            if lines[-1:] != ["202"]:
                raise SystemExit(f"cold start probe ({who}) failed:\n{result.stderr[-2000:]}")
            secret_reads = ast.literal_eval(lines[-2]).get("GetSecretValue", 0)
            if secret_reads != reads[who]:
                raise SystemExit(f"cold start probe ({who}) read the secret {secret_reads} times, not {reads[who]}")
            times[who].append(elapsed)
    return times


def failure_answer(ours: Callable[..., Any], mode: dict[str, str], n: int = 15) -> tuple[list[float], float]:
    """Time to the 503 when every send fails, against what the default
    configuration allows: the backoff ceilings plus 100 ms for the calls."""
    from entrypoints.config import Settings

    settings = Settings.from_env(ENV)
    ceilings = sum(
        min(settings.send_max_delay_ms, settings.send_base_delay_ms * 2 ** (k - 1))
        for k in range(1, settings.send_max_attempts)
    )
    mode["sqs"] = "unavailable"
    times = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            answer = ours(EVENT)
            times.append((time.perf_counter() - start) * 1000)
            assert answer["statusCode"] == 503, answer
    finally:
        mode["sqs"] = "ok"
    return times, float(ceilings + 100)


def asset_size(bundle: Path) -> tuple[int, dict[str, int]]:
    sizes: dict[str, int] = {}
    for entry in bundle.iterdir():
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes[entry.name] = sum(p.stat().st_size for p in files)
    largest = dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:6])
    return sum(sizes.values()), largest


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def ratio(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (rounds {min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    sys.exit(main())
