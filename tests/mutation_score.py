"""The score ``make mutation`` prints for an area, computed as mutmut's own
badge does: caught (killed or timed out) over every mutant not skipped. A
survivor and a mutant that no test reaches both count against it."""

from __future__ import annotations

import json
from pathlib import Path


def score_line(area: str, stats_file: Path) -> str:
    """``stats_file`` is what ``mutmut export-cicd-stats`` writes."""
    stats = json.loads(stats_file.read_text())
    tested = stats["total"] - stats["skipped"]
    caught = stats["killed"] + stats["timeout"]
    # Neither caught nor survived: mutmut could not tell, so they count against the score.
    unclear = stats["suspicious"] + stats["segfault"] + stats["check_was_interrupted_by_user"]
    # Code that tests run only in a process of its own (make run's server)
    # is reached by no test mutmut can see: the second figure leaves it out.
    reached = tested - stats["no_tests"]
    return (
        f"mutation score over {area}/: {caught} of {tested} mutants caught ({caught / tested:.1%}: "
        f"{stats['killed']} killed, {stats['timeout']} timed out); "
        f"{stats['survived']} survived, {stats['no_tests']} reached by no test, {unclear} unclear; "
        f"{caught / reached:.1%} of the {reached} some test reaches"
    )
