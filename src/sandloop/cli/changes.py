"""What a run changed: per-file line counts from git, a unified diff, or two directory trees.

Part of ``cli``. ``sandloop run`` reports changes with ``git`` on the host for a bind-mounted
repository, from the sandbox's diff in ``--copy`` mode, and ``sandloop demo`` compares the
project with its pristine copy (no git needed).
"""

from __future__ import annotations

import difflib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ("FileChange", "diff_stat", "git_changes", "tree_diff")

_SKIPPED_DIRS = frozenset({".git", ".sandloop", "__pycache__"})
_HUNK = re.compile(r"^@@ -\d+(?:,(?P<old>\d+))? \+\d+(?:,(?P<new>\d+))? @@")


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
    source = ""
    old_left = new_left = 0  # lines of the current hunk still to come: they are content
    for line in diff.splitlines():
        if old_left > 0 or new_left > 0:
            kind = line[:1]
            old_left -= kind in ("-", " ", "")
            new_left -= kind in ("+", " ", "")
            if changes and kind in ("+", "-"):
                last = changes[-1]
                plus, minus = (1, 0) if kind == "+" else (0, 1)
                changes[-1] = FileChange(
                    last.path, last.added + plus, last.removed + minus, last.status
                )
        elif line.startswith("--- "):
            source = line[4:].split("\t")[0]
        elif line.startswith("+++ "):
            target = line[4:].split("\t")[0]
            if target == "/dev/null":
                changes.append(FileChange(source.removeprefix("a/"), 0, 0, "deleted"))
            else:
                status = "new" if source == "/dev/null" else "modified"
                changes.append(FileChange(target.removeprefix("b/"), 0, 0, status))
        elif (hunk := _HUNK.match(line)) is not None:
            old_left = int(hunk["old"] or 1)
            new_left = int(hunk["new"] or 1)
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
