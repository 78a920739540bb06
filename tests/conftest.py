from __future__ import annotations

from typing import Any

from tests.property.stats import STATS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS:
        return
    terminalreporter.section("consistency figures (stateful test over the fakes)")
    for name, count in sorted(STATS.items()):
        terminalreporter.write_line(f"{count:>9}  {name}")
