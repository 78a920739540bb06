"""cfn-lint on the synthesized template, as a team adopting the stack would
run it: no error, and no warning that is not explained here."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint_file

# Each rule left out, with why it does not apply to this stack.
EXPLAINED = {
    # CDK writes DependsOn from each function to its role's default policy
    # and to the role itself; the role is also referenced by GetAtt. The
    # extra dependency is redundant, not wrong, and comes from CDK itself.
    "W3005",
}


def test_cfn_lint_finds_nothing_unexplained(template: Template, tmp_path: Path) -> None:
    path = tmp_path / "JobIntake.template.json"
    path.write_text(json.dumps(template.to_json()))

    findings = lint_file(path, ManualArgs(ignore_checks=sorted(EXPLAINED), regions=["us-east-1", "eu-west-1"]))

    assert [f"{m.rule.id} {m.message} ({m.path_string})" for m in findings] == []


def test_the_explained_warnings_still_occur(template: Template, tmp_path: Path) -> None:
    """An exclusion that no longer matches anything is removed, not kept."""
    path = tmp_path / "JobIntake.template.json"
    path.write_text(json.dumps(template.to_json()))

    found = {match.rule.id for match in lint_file(path, ManualArgs(regions=["us-east-1"]))}

    assert found >= EXPLAINED
