"""`make prove`: the catalogue with any fault on any call of any actor, and
bigger worlds, every schedule explored. Prints the schedules per scenario;
exits non-zero at the first violation, printing its schedule."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from chaos.faults import Crash
from chaos.invariants import NAMES
from tests.simulation.catalogue import PROVE
from tests.simulation.explorer import explore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.simulation.prove", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run the scenarios whose name contains this text")
    parser.add_argument(
        "--max-executions", type=int, default=2_000_000, help="bound per scenario (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    total = 0
    print(f"{'schedules':>10} {'steps':>11} {'seconds':>8}  scenario", flush=True)
    for case in PROVE:
        if args.only not in case.name:
            continue
        started = time.perf_counter()
        report = explore(case.build, max_faults=case.max_faults, max_executions=args.max_executions, expected=(Crash,))
        total += report.executions
        print(
            f"{report.executions:>10} {report.steps:>11} {time.perf_counter() - started:>8.1f}  {case.name}", flush=True
        )
    # Each schedule is judged by World.check after every step and by
    # World.finish at its end (chaos.invariants, the completion events' I8 among them).
    print(f"{total} schedules, 0 violations of {', '.join(NAMES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
