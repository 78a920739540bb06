"""Building the Lambda asset's contents: pure Python, no CDK, so that the
benchmark can build the same asset without starting the CDK.

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

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "ports", "adapters", "entrypoints")
# Runs only where moto is installed (make run), never in Lambda.
LEFT_OUT = ("entrypoints/local_server.py",)
SOURCES_ONLY = ("*.c", "*.pyx", "*.pxd")


def runtime_requirements() -> list[str]:
    """The pinned runtime dependencies, as setup.cfg declares them."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]


def source_hash() -> str:
    """Changes when anything that goes into the asset does."""
    digest = hashlib.sha256("\n".join(runtime_requirements()).encode())
    digest.update(Path(__file__).read_bytes())  # the recipe itself
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


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
    # Compiler sources some wheels ship (dependency-injector: 12 MB of C):
    # never read at run time.
    for pattern in SOURCES_ONLY:
        for path in output_dir.rglob(pattern):
            path.unlink()
