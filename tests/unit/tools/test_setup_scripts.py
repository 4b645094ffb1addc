"""tools/setup.sh (behind the README's two commands) does only what is missing: it makes a
virtual environment only when none is active and ./.venv is absent, installs only when sandloop
does not import from the checkout or pyproject.toml changed, and a second run installs nothing.

It runs on a scratch copy of the checkout (its src/ a link to the real one) with a stand-in for
pip that records its arguments and "installs" with a .pth file, so nothing is downloaded and the
shared environment is never touched. Docker and the browser are left out
(SANDLOOP_SETUP_SKIP_DOCKER, SANDLOOP_SETUP_SKIP_BROWSER).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

FAKE_PIP = """#!/bin/sh
# Records the arguments, then makes `import sandloop` find the checkout, as `pip install -e` does.
echo "$*" >> "{log}"
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "{src}" > "$site/sandloop-fake.pth"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "setup.sh", root / "tools" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").symlink_to(ROOT / "src")
    return root


def setup(checkout: Path, what: str, *, venv: Path | None) -> tuple[str, list[str]]:
    """Run ``tools/setup.sh what``; its output and every pip command it ran so far."""
    log = checkout.parent / "pip.log"
    pip = checkout.parent / "fake-pip"
    pip.write_text(FAKE_PIP.format(log=log, src=checkout / "src"))
    pip.chmod(0o755)
    # A PATH without the test's own environment: python3 is the interpreter it was made from.
    base = Path(sys.base_prefix) / "bin"
    path = [str(venv / "bin")] if venv else []
    env = {
        "PATH": os.pathsep.join([*path, str(base), "/usr/bin", "/bin"]),
        "HOME": str(checkout.parent),
        "SANDLOOP_SETUP_PIP": str(pip),
        "SANDLOOP_SETUP_SKIP_DOCKER": "1",
        "SANDLOOP_SETUP_SKIP_BROWSER": "1",
    }
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
    done = subprocess.run(
        ["bash", str(checkout / "tools" / "setup.sh"), what],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, log.read_text().splitlines() if log.exists() else []


def test_an_active_environment_is_used_and_installed_into_once(checkout: Path) -> None:
    venv = checkout.parent / "active"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    out, pip = setup(checkout, "dev", venv=venv)
    assert f"using the active virtual environment {venv}" in out
    assert pip == [f"install -q -e {checkout}[dev]"]
    assert not (checkout / ".venv").exists()
    again, pip = setup(checkout, "dev", venv=venv)
    assert "sandloop (dev) is installed and up to date" in again
    assert len(pip) == 1  # nothing installed the second time
    demo, pip = setup(checkout, "demo", venv=venv)  # the dev install serves the demo too
    assert "sandloop (demo) is installed and up to date" in demo
    assert len(pip) == 1


def test_a_changed_pyproject_installs_again(checkout: Path) -> None:
    venv = checkout.parent / "active"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    setup(checkout, "demo", venv=venv)
    with (checkout / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency, say\n")
    out, pip = setup(checkout, "demo", venv=venv)
    assert "installing sandloop (demo)" in out
    assert pip == [f"install -q -e {checkout}"] * 2


def test_without_an_active_environment_dot_venv_is_made_once(checkout: Path) -> None:
    out, pip = setup(checkout, "demo", venv=None)
    assert f"creating {checkout}/.venv" in out
    assert (checkout / ".venv" / "bin" / "python").is_file()
    assert len(pip) == 1
    again, pip = setup(checkout, "demo", venv=None)
    assert "creating" not in again
    assert "sandloop (demo) is installed and up to date" in again
    assert len(pip) == 1
