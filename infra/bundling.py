"""Bundling the Lambda asset without Docker.

pip installs the runtime dependencies as wheels built for the Lambda
platform (architecture and Python version of the function), then the
project's own packages are copied beside them. boto3 is bundled rather than
taken from the runtime: the service relies on how botocore parses SQS's
JSON-protocol errors (``QueryErrorCode``) and on per-service endpoint
settings, and the version the runtime ships changes without notice.
"""

from __future__ import annotations

import configparser
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "ports", "adapters", "entrypoints")
# Runs only where moto is installed (make run), never in Lambda.
LEFT_OUT = ("entrypoints/local_server.py",)


def runtime_requirements() -> list[str]:
    """The pinned runtime dependencies, as setup.cfg declares them."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]


def platform_of(architecture: lambda_.Architecture) -> str:
    return "manylinux2014_aarch64" if architecture.name == "arm64" else "manylinux2014_x86_64"


def source_hash() -> str:
    """Changes when anything that goes into the asset does."""
    digest = hashlib.sha256("\n".join(runtime_requirements()).encode())
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class LocalBundler:
    def __init__(self, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> None:
        self._python_version = runtime.name.removeprefix("python")
        self._platform = platform_of(architecture)

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        bundle(Path(output_dir), python_version=self._python_version, platform=self._platform)
        return True


def bundle(output_dir: Path, *, python_version: str, platform: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(output_dir),
            "--platform",
            platform,
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            "--no-compile",
            *runtime_requirements(),
        ],
        check=True,
    )
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            output_dir / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
    for name in LEFT_OUT:
        (output_dir / name).unlink(missing_ok=True)


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
