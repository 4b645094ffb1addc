"""``sandloop doctor`` as a subprocess: each problem is named with the command that fixes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def doctor(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "sandloop.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
    )


def line(output: str, name: str) -> str:
    return next(row for row in output.splitlines() if f"  {name}  " in f"{row}  ")


def test_without_an_engine_docker_fails_with_a_fix(tmp_path: Path) -> None:
    done = doctor(DOCKER_HOST=f"unix://{tmp_path}/none.sock", OPENAI_BASE_URL="ftp://x")
    assert done.returncode == 1
    assert line(done.stdout, "docker engine").startswith("FAIL")
    assert "fix: start the Docker engine" in done.stdout
    assert "sandloop run --local" in done.stdout
    assert line(done.stdout, "base url").startswith("FAIL")
    assert line(done.stdout, "api key").startswith("warn")
    assert "2 problem(s)" in done.stdout


@pytest.mark.docker
def test_with_an_engine_the_images_are_checked(docker_client: Any) -> None:
    done = doctor(OPENAI_API_KEY="sk-" + "x" * 40)
    assert line(done.stdout, "docker engine").startswith("ok")
    images = [row for row in done.stdout.splitlines() if " image " in f" {row}"]
    assert images, done.stdout
    assert line(done.stdout, "api key").startswith("ok")
    assert "x" * 40 not in done.stdout  # the key is never printed whole
    base = line(done.stdout, "image base")
    assert base.startswith(("ok", "FAIL"))
    assert done.returncode == (0 if base.startswith("ok") else 1)
