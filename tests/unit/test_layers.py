"""The hexagon's walls: what each layer may import."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "domain": {"attrs", "backoff", "domain", "ports"},
    "ports": {"attrs", "domain", "ports"},
    "adapters": {"attrs", "boto3", "botocore", "domain", "ports", "adapters"},
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_may(layer: str) -> None:
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / layer).rglob("*.py")
        for name in imports_of(path)
        if name not in ALLOWED[layer]
    }
    assert found == set()


# The domain's model: values and rules that need no port. Ports are written
# in its terms; the use cases (every other domain module) use ports. So the
# dependency runs one way: use cases -> ports -> model.
MODEL = {"job", "failures", "outcomes", "submission", "budget", "nesting"}


def modules_imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_model_imports_no_port_and_no_use_case() -> None:
    found = {
        f"domain/{name}.py: {module}"
        for name in MODEL
        for module in modules_imported(ROOT / "domain" / f"{name}.py")
        if module.startswith("ports") or (module.startswith("domain.") and module.split(".")[1] not in MODEL)
    }
    assert found == set()


def test_ports_import_only_the_domains_model() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in (ROOT / "ports").rglob("*.py")
        for module in modules_imported(path)
        if module.startswith("domain") and module.removeprefix("domain.") not in MODEL
    }
    assert found == set()


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom botocore.exceptions import ClientError\nfrom domain.job import Job\n")
    assert imports_of(module) == {"botocore", "domain"}
