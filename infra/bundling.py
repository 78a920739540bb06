"""Bundling the Lambda asset without Docker: CDK's local bundling hook
around ``infra.asset``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.asset import PACKAGES, ROOT, bundle, source_hash


def platform_of(architecture: lambda_.Architecture) -> str:
    return "manylinux2014_aarch64" if architecture.name == "arm64" else "manylinux2014_x86_64"


@jsii.implements(ILocalBundling)
class LocalBundler:
    def __init__(
        self,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        extra_source: Path | None = None,
        extra_requirements: Sequence[str] = (),
    ) -> None:
        self._python_version = runtime.name.removeprefix("python")
        self._platform = platform_of(architecture)
        self._extra_source = extra_source
        self._extra_requirements = tuple(extra_requirements)

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        bundle(
            Path(output_dir),
            python_version=self._python_version,
            platform=self._platform,
            extra_source=self._extra_source,
            extra_requirements=self._extra_requirements,
        )
        return True


def lambda_code(
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    extra_source: Path | None = None,
    extra_requirements: Sequence[str] = (),
) -> lambda_.Code:
    """The functions' code: the project's packages, its runtime
    dependencies, and a deployment's handlers with theirs."""
    digest = source_hash(extra_source, extra_requirements)
    return lambda_.Code.from_asset(
        str(ROOT),
        asset_hash=f"{digest}-{runtime.name}-{architecture.name}",
        asset_hash_type=AssetHashType.CUSTOM,
        exclude=["*", *(f"!{package}/**" for package in PACKAGES), "!setup.cfg"],
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or raises.
            image=DockerImage.from_registry("local-bundling-only"),
            local=LocalBundler(runtime, architecture, extra_source, extra_requirements),
        ),
    )
