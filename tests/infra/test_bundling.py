"""The Lambda asset, bundled without Docker: self-contained, for the
function's platform, holding the runtime packages and nothing else."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from examples.cdk_app.app import HANDLERS
from infra.asset import bundle


@pytest.fixture(scope="module")
def arm64_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("arm64")
    bundle(out, python_version="3.14", platform="manylinux2014_aarch64")
    return out


def test_the_bundle_holds_the_service_and_its_runtime_dependencies_only(arm64_bundle: Path) -> None:
    for handler in ("api", "reconciler", "worker"):
        assert (arm64_bundle / "entrypoints" / f"{handler}.py").is_file()
    assert (arm64_bundle / "boto3").is_dir() and (arm64_bundle / "dependency_injector").is_dir()
    assert not (arm64_bundle / "entrypoints" / "local_server.py").exists()
    for absent in ("tests", "infra", "moto", "pytest", "hypothesis", "aws_cdk"):
        assert not (arm64_bundle / absent).exists(), absent
    assert not [p for pattern in ("*.c", "*.pyx", "*.pxd") for p in arm64_bundle.rglob(pattern)]


def test_compiled_dependencies_are_built_for_the_function_architecture(arm64_bundle: Path) -> None:
    [wheel] = arm64_bundle.glob("dependency_injector-*.dist-info/WHEEL")
    tags = [line for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
    assert tags and all("aarch64" in tag for tag in tags)


def test_the_handlers_import_from_the_bundle_alone(tmp_path: Path) -> None:
    # Bundled for this machine's platform and Python, with a deployment's
    # handlers, then imported with nothing else on the path: a missing
    # dependency shows up here.
    here = f"manylinux2014_{platform.machine()}"
    bundle(
        tmp_path,
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        platform=here,
        extra_source=HANDLERS,
    )
    code = (
        "import entrypoints.api, entrypoints.reconciler, entrypoints.worker, boto3; "
        "from entrypoints.config import load_handlers; "
        "assert load_handlers('thumbnails.handlers:registry').knows('thumbnail'); "
        "print(boto3.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {code}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(tmp_path))
