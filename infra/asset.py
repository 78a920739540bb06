"""Building the Lambda asset's contents: pure Python, no CDK, so that the
benchmark can build the same asset without starting the CDK.

pip installs the runtime dependencies as wheels built for the Lambda
platform (architecture and Python version of the function), then the
project's own packages are copied beside them. boto3 is bundled rather than
taken from the runtime: the service relies on how botocore parses SQS's
JSON-protocol errors (``QueryErrorCode``) and on per-service endpoint
settings, and the version the runtime ships changes without notice.

A deployment's own handlers (``infra.job_service.HandlerCode``) go in too:
the contents of their directory beside the project's packages, and their
pinned requirements with the project's.
"""

from __future__ import annotations

import configparser
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "ports", "adapters", "entrypoints")
# Runs only where moto is installed (make run), never in Lambda.
LEFT_OUT = ("entrypoints/local_server.py", "entrypoints/local_worker.py")
SOURCES_ONLY = ("*.c", "*.pyx", "*.pxd")


def runtime_requirements() -> list[str]:
    """The pinned runtime dependencies, as setup.cfg declares them."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]


def source_hash(extra_source: Path | None = None, extra_requirements: Sequence[str] = ()) -> str:
    """Changes when anything that goes into the asset does."""
    digest = hashlib.sha256("\n".join([*runtime_requirements(), *extra_requirements]).encode())
    digest.update(Path(__file__).read_bytes())  # the recipe itself
    trees = [(ROOT, ROOT / package) for package in PACKAGES]
    if extra_source is not None:
        trees.append((extra_source, extra_source))
    for base, tree in trees:
        for path in sorted(p for p in tree.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(base)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def bundle(
    output_dir: Path,
    *,
    python_version: str,
    platform: str,
    extra_source: Path | None = None,
    extra_requirements: Sequence[str] = (),
) -> None:
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
            *extra_requirements,
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
    if extra_source is not None:
        shutil.copytree(
            extra_source, output_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True
        )
    for name in LEFT_OUT:
        (output_dir / name).unlink(missing_ok=True)
    # Compiler sources some wheels ship (dependency-injector: 12 MB of C):
    # never read at run time.
    for pattern in SOURCES_ONLY:
        for path in output_dir.rglob(pattern):
            path.unlink()
