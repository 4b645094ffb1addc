"""``sandloop demo`` end to end: the bundled cassette replayed on the bundled project.

The demo must end with the project's tests passing, in Docker, in a LocalSandbox when asked,
and in a LocalSandbox when no Docker engine answers (said plainly). It needs no API key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def demo(target: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SANDLOOP_"))}
    clean.update(COLUMNS="200", **env)
    return subprocess.run(
        [sys.executable, "-m", "sandloop.cli", "demo", "--dir", str(target), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean,
    )


def project_tests(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-B", "-m", "unittest"],
        cwd=target / "project",
        capture_output=True,
        text=True,
        timeout=60,
    )


def tool_outputs(target: Path) -> list[dict[str, Any]]:
    (run_dir,) = (target / "runs").iterdir()
    records = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    return [r for r in records if r["type"] == "tool_output"]


def check_fixed(done: subprocess.CompletedProcess[str], target: Path) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "+        total += line.unit_cents * line.quantity" in done.stdout  # the diff shown
    outputs = tool_outputs(target)
    first, last = outputs[0]["output"], outputs[-1]["output"]
    assert first["output"][0]["outcome"]["exit_code"] == 1  # the tests failed at first
    assert last["output"][0]["outcome"]["exit_code"] == 0  # and pass at the end
    assert project_tests(target).returncode == 0


def check_changes_listed(done: subprocess.CompletedProcess[str], target: Path) -> None:
    # The project is a git repository with one commit: the end screen lists what changed.
    assert "changed files\n shop/pricing.py +1 -1\n" in done.stdout
    status = subprocess.run(
        ["git", "-C", str(target / "project"), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == " M shop/pricing.py\n"


@pytest.mark.docker
def test_demo_in_docker(tmp_path: Path, base_image: str) -> None:
    target = tmp_path / "demo"
    done = demo(target, SANDLOOP_IMAGE=base_image)
    check_fixed(done, target)
    check_changes_listed(done, target)
    assert f"docker {base_image}" in done.stdout


def test_demo_into_a_pipe_keeps_its_lines_whole(tmp_path: Path) -> None:
    # No COLUMNS: a pipe is not cut at 80 columns, paths are not split.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SANDLOOP_"))}
    clean.pop("COLUMNS", None)
    target = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "sandloop", "demo", "--local", "--dir", str(target)],
        capture_output=True, text=True, timeout=600, env=clean,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (header,) = [line for line in done.stdout.splitlines() if line.startswith("sandloop run ")]
    assert header.endswith("replaying the bundled demo cassette")
    assert f"transcript: {target}/runs/" in done.stdout


def test_demo_in_a_local_sandbox_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    done = demo(target, SANDLOOP_DEMO_LOCAL="1")
    check_fixed(done, target)
    check_changes_listed(done, target)
    assert "local sandbox" in done.stdout


def test_demo_without_a_working_git_still_fixes_the_project(tmp_path: Path) -> None:
    # A git that fails stands in for a missing one: the demo goes on without the list.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text("#!/bin/sh\nexit 1\n")
    (fake / "git").chmod(0o755)
    target = tmp_path / "demo"
    path = f"{fake}{os.pathsep}{os.environ.get('PATH', '')}"
    done = demo(target, SANDLOOP_DEMO_LOCAL="1", PATH=path)
    check_fixed(done, target)
    assert "no git repository (is git installed?)" in done.stdout
    # The changed files come from the host's snapshot, not from git: listed all the same.
    assert "changed files\n shop/pricing.py +1 -1\n" in done.stdout
    assert not (target / "project" / ".git").exists()


def test_demo_without_docker_says_so_and_runs_locally(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    done = demo(target, DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock")
    check_fixed(done, target)
    assert "No Docker engine answers" in done.stdout
    assert "without isolation" in done.stdout


def test_the_bundled_project_starts_broken(tmp_path: Path) -> None:
    from sandloop.cli.demo_command import demo_data

    target = tmp_path / "demo"
    shutil.copytree(demo_data() / "project", target / "project")
    assert project_tests(target).returncode == 1


def test_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    done = demo(tmp_path, "--local")
    assert done.returncode == 2
    assert "not empty" in done.stderr
