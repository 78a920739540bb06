from __future__ import annotations

from typing import Any

from tests.property.stats import STATS
from tests.simulation.figures import FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("schedules explored (every interleaving, up to each scenario's fault bound)")
        terminalreporter.write_line(f"{'schedules':>10} {'steps':>10} {'pruned':>9}  violations  scenario")
        for name, report in FIGURES.items():
            counts = f"{report.executions:>10} {report.steps:>10} {report.pruned:>9}"
            terminalreporter.write_line(f"{counts}  0           {name}")
    if STATS:
        terminalreporter.section("consistency figures (stateful test over the fakes)")
        for name, count in sorted(STATS.items()):
            terminalreporter.write_line(f"{count:>9}  {name}")
