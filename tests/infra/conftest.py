from __future__ import annotations

import os

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app import build
from infra.stack import JobIntakeStack

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


def synthesized_stack() -> JobIntakeStack:
    # Bundling is skipped here (it pip-installs wheels); test_bundling covers it.
    return build(App(context={"aws:cdk:bundling-stacks": []}))


@pytest.fixture(scope="session")
def stack() -> JobIntakeStack:
    return synthesized_stack()


@pytest.fixture(scope="session")
def template(stack: JobIntakeStack) -> Template:
    return Template.from_stack(stack)
