"""A task's repository as a directory to copy into its sandbox.

A local directory is used as it is (copy mode never writes to it, so many tasks share it). A git
URL or path with a commit is cloned into a fresh temporary directory and checked out there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandloop.batch.tasks import Task
from sandloop.errors import SandloopError

__all__ = ("RepoError", "prepare_repo")

#: Seconds a clone and checkout may take together.
CLONE_TIMEOUT = 600.0


class RepoError(SandloopError):
    """A task's repository could not be cloned or checked out."""


@contextmanager
def prepare_repo(task: Task, *, timeout: float = CLONE_TIMEOUT) -> Iterator[Path]:
    """The directory holding ``task``'s repository, removed afterwards when it was cloned.

    Raises:
        RepoError: ``git`` is missing, or the clone or checkout failed (its stderr included).
    """
    if not task.is_git:
        yield Path(task.repo)
        return
    assert task.commit is not None
    if shutil.which("git") is None:
        raise RepoError(f"task {task.id!r}: cloning needs git, which is not installed")
    scratch = Path(tempfile.mkdtemp(prefix=f"sandloop-batch-{task.id}-"))
    try:
        target = scratch / "repo"
        _git(task, ["clone", "--quiet", "--no-checkout", "--", task.repo, str(target)], timeout)
        _git(task, ["-C", str(target), "checkout", "--quiet", "--detach", task.commit], timeout)
        yield target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _git(task: Task, args: list[str], timeout: float) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        done = subprocess.run(
            ["git", "-c", "protocol.file.allow=always", *args],
            capture_output=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RepoError(f"task {task.id!r}: git {args[0]} timed out after {timeout:g}s") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise RepoError(f"task {task.id!r}: git {' '.join(args[:1])} failed: {err}")
