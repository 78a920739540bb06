"""Bundling the Lambda asset without Docker: CDK's local bundling hook
around ``infra.asset``."""

from __future__ import annotations

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
    def __init__(self, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> None:
        self._python_version = runtime.name.removeprefix("python")
        self._platform = platform_of(architecture)

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        bundle(Path(output_dir), python_version=self._python_version, platform=self._platform)
        return True


def lambda_code(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(ROOT),
        asset_hash=f"{source_hash()}-{runtime.name}-{architecture.name}",
        asset_hash_type=AssetHashType.CUSTOM,
        exclude=["*", *(f"!{package}/**" for package in PACKAGES), "!setup.cfg"],
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or raises.
            image=DockerImage.from_registry("local-bundling-only"),
            local=LocalBundler(runtime, architecture),
        ),
    )
