"""``make mutation``: mutmut over each area of the code, one area at a time.

mutmut reads one ``[mutmut]`` section from ``setup.cfg`` and keeps its
state in ``mutants/`` of the working directory. Each area is therefore run
in its own copy of the tree (``mutation/<area>``), whose ``setup.cfg`` has
the area's ``[mutmut:<area>]`` section as its ``[mutmut]``. The score of
each area is printed as ``tests.mutation_score`` computes it.

    python -m tests.mutation_areas [--max-children N] [AREA ...]   # default: every area
"""

from __future__ import annotations

import argparse
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.mutation_score import score_line

ROOT = Path(__file__).resolve().parent.parent
WORKSPACES = ROOT / "mutation"
AREAS = ("domain", "adapters", "entrypoints")
# What the tests import or read; the rest of the tree stays behind.
TREE = ("domain", "ports", "adapters", "entrypoints", "infra", "chaos", "bench", "examples", "tests")
FILES = ("setup.cfg", "pyproject.toml", "cdk.json")


def workspace(area: str) -> Path:
    """A copy of the tree whose ``[mutmut]`` is the area's section; the
    area's earlier ``mutants/`` is dropped, so no verdict is carried over
    (mutmut keys them by mutant number, which an edit can shift)."""
    place = WORKSPACES / area
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache")
    for name in TREE:
        shutil.copytree(ROOT / name, place / name, ignore=skip)
    for name in FILES:
        shutil.copy2(ROOT / name, place / name)
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg")
    config.remove_section("mutmut")
    config.add_section("mutmut")
    for key, value in config.items(f"mutmut:{area}"):
        config.set("mutmut", key, value)
    with (place / "setup.cfg").open("w") as out:
        config.write(out)
    return place


def run(area: str, max_children: int | None = None) -> str:
    place = workspace(area)
    env = {**os.environ, "CONSISTENCY_EXAMPLES": "100", "API_FUZZ_EXAMPLES": "100"}
    mutmut = [sys.executable, "-m", "mutmut"]
    children = [] if max_children is None else ["--max-children", str(max_children)]
    subprocess.run([*mutmut, "run", *children], cwd=place, env=env, check=True)
    subprocess.run([*mutmut, "results"], cwd=place, env=env, check=True)
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=place, env=env, check=True)
    return score_line(area, place / "mutants" / "mutmut-cicd-stats.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("areas", nargs="*", metavar="AREA", help=f"one of {', '.join(AREAS)} (default: all)")
    parser.add_argument(
        "--max-children", type=int, help="mutants tested at once (default: one per core); fewer leaves cores free"
    )
    args = parser.parse_args()
    areas = args.areas or list(AREAS)
    unknown = sorted(set(areas) - set(AREAS))
    if unknown:
        parser.error(f"no such area: {', '.join(unknown)}; the areas are {', '.join(AREAS)}")
    lines = [run(area, args.max_children) for area in areas]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
