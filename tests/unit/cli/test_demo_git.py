"""``sandloop demo`` makes its project copy a git repository, or goes on without one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sandloop.cli.demo_command import demo_data, git_init


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(demo_data() / "project", project)
    return project


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_project_becomes_a_repository_with_one_commit(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert git_init(project)
    log = subprocess.run(
        ["git", "-C", str(project), "log", "--format=%an <%ae>"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout == "sandloop demo <demo@sandloop.invalid>\n"
    status = subprocess.run(
        ["git", "-C", str(project), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""  # everything committed


def test_without_git_the_project_is_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not git_init(project)
    assert not (project / ".git").exists()


def test_a_failing_git_leaves_no_half_made_repository(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / ".git").mkdir()  # in the way of a commit: "git add" fails here
    (project / ".git" / "HEAD").write_text("not a ref\n")
    assert not git_init(project)
    assert not (project / ".git").exists()
