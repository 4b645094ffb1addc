"""The wheel carries what an installed sandloop needs at run time, not just the Python modules."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_runner_image_contexts_and_demo(tmp_path: Path) -> None:
    # Offline: the build uses the environment's setuptools instead of downloading one.
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    [wheel] = tmp_path.glob("sandloop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "sandloop/py.typed",
        "sandloop/sandboxes/runner/__main__.py",
        "sandloop/sandboxes/runner/sandloop_runner/serve.py",
        "sandloop/sandboxes/contexts/base/Dockerfile",
        "sandloop/sandboxes/contexts/computer/Dockerfile",
        "sandloop/cli/demo/cassette.json",
        "sandloop/cli/demo/project/shop/pricing.py",
        "sandloop/cli/demo/project/tests/test_pricing.py",
    ):
        assert needed in names, f"{needed} is missing from {wheel.name}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sandloop = sandloop.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
