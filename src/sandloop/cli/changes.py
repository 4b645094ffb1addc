"""What a run changed: per-file line counts from git, a unified diff, or two directory trees.

Part of ``cli``. ``sandloop run`` reports changes with ``git`` on the host for a bind-mounted
repository, from the sandbox's diff in ``--copy`` mode, and ``sandloop demo`` compares the
project with its pristine copy (no git needed).
"""

from __future__ import annotations

import difflib
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ("FileChange", "diff_stat", "git_changes", "tree_diff")

_SKIPPED_DIRS = frozenset({".git", ".sandloop", "__pycache__"})


@dataclass(frozen=True, slots=True)
class FileChange:
    """One changed file: its path and the lines added and removed (``-1``: binary/unknown)."""

    path: str
    added: int
    removed: int
    status: str = "modified"


def git_changes(repo: Path) -> list[FileChange] | None:
    """Changes of the working tree against HEAD, untracked files included; ``None`` if not git."""
    numstat = _git(repo, "diff", "--numstat", "HEAD")
    if numstat is None:
        numstat = _git(repo, "diff", "--numstat")  # a repository without commits yet
    if numstat is None:
        return None
    changes = []
    for line in numstat.splitlines():
        added, removed, path = line.split("\t", 2)
        changes.append(FileChange(path, _count(added), _count(removed)))
    for path in (_git(repo, "ls-files", "--others", "--exclude-standard") or "").splitlines():
        try:
            lines = len((repo / path).read_bytes().splitlines())
        except OSError:
            lines = -1
        changes.append(FileChange(path, lines, 0, "new"))
    return changes


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _count(text: str) -> int:
    return int(text) if text.isdigit() else -1


def diff_stat(diff: str) -> list[FileChange]:
    """Per-file counts of a unified diff (``git diff`` or ``diff -ru`` output)."""
    changes: list[FileChange] = []
    path: str | None = None
    added = removed = 0
    status = "modified"
    for line in diff.splitlines():
        if line.startswith("--- "):
            if path is not None:
                changes.append(FileChange(path, added, removed, status))
            path, added, removed = None, 0, 0
            status = "new" if line[4:].startswith("/dev/null") else "modified"
        elif line.startswith("+++ ") and path is None:
            target = line[4:].split("\t")[0]
            if target.startswith("/dev/null"):
                status = "deleted"
            else:
                path = target.removeprefix("b/")
        elif line.startswith("+") and path is not None:
            added += 1
        elif line.startswith("-") and path is not None:
            removed += 1
    if path is not None:
        changes.append(FileChange(path, added, removed, status))
    return changes


def tree_diff(before: Path, after: Path) -> str:
    """A unified diff from directory ``before`` to ``after`` (text files; caches skipped)."""
    old, new = _files(before), _files(after)
    parts: list[str] = []
    for name in sorted(old.keys() | new.keys()):
        a = _lines(old.get(name))
        b = _lines(new.get(name))
        if a == b:
            continue
        source = f"a/{name}" if name in old else "/dev/null"
        target = f"b/{name}" if name in new else "/dev/null"
        parts.extend(difflib.unified_diff(a, b, source, target))
    return "".join(line if line.endswith("\n") else line + "\n" for line in parts)


def _files(root: Path) -> dict[str, Path]:
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not _SKIPPED_DIRS.intersection(rel.parts):
            found[rel.as_posix()] = path
    return found


def _lines(path: Path | None) -> list[str]:
    if path is None:
        return []
    try:
        return path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (OSError, UnicodeDecodeError):
        return ["(binary file)\n"]
