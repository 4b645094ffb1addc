"""What a run changed: per-file line counts of a unified diff, or a diff of two directory trees.

Part of ``cli``. ``sandloop run`` reports changes from the sandbox's diff in ``--copy`` mode
and from a host-owned snapshot (:mod:`sandloop.cli.snapshot`) otherwise; ``sandloop demo``
compares the project with its pristine copy. No git runs on the host: the repository's config,
hooks and filters are the model's to write.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from sandloop.cli.workspace_reader import Entry, WalkLimitError, read_capped, walk

__all__ = ("FileChange", "diff_stat", "file_diff", "quote_path", "text_lines", "tree_diff")

#: Bytes of file content :func:`tree_diff` reads in all, both trees together.
MAX_TREE_BYTES = 64 << 20

_SKIPPED_DIRS = frozenset({".git", "__pycache__"})
_KINDS = {"link": "symlink", "other": "special file"}
_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}
_HUNK = re.compile(r"^@@ -\d+(?:,(?P<old>\d+))? \+\d+(?:,(?P<new>\d+))? @@")


@dataclass(frozen=True, slots=True)
class FileChange:
    """One changed file: its path and the lines added and removed (``-1``: not counted, and
    ``detail`` says why: ``binary``, ``binary/too large``, ``symlink``, ``special file``)."""

    path: str
    added: int
    removed: int
    status: str = "modified"
    detail: str = "binary"


def quote_path(path: str) -> str:
    """``path`` as git shows an odd name: in double quotes with C escapes when it holds a
    control character, a quote or backslash, or bytes that are not UTF-8; else unchanged."""
    raw = path.encode("utf-8", "surrogateescape")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not any(c in '"\\' or ord(c) < 32 or ord(c) == 127 for c in text):
        return path
    out = []
    for byte in raw:
        char = chr(byte)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


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
    """A unified diff from directory ``before`` to ``after`` (text files; caches skipped).

    Both trees are read through :mod:`sandloop.cli.workspace_reader`: symlinks and special
    files are named, not followed; files over its cap, and past :data:`MAX_TREE_BYTES` in all,
    are shown as not read.
    """
    old, new = _files(before), _files(after)
    return "".join(
        file_diff(name, old.get(name), new.get(name)) for name in sorted(old.keys() | new.keys())
    )


def file_diff(path: str, before: list[str] | None, after: list[str] | None) -> str:
    """The unified diff of one file, from lines ``before`` to ``after`` (``None``: the file
    does not exist on that side); empty when they are equal."""
    if before == after:
        return ""
    source = f"a/{path}" if before is not None else "/dev/null"
    target = f"b/{path}" if after is not None else "/dev/null"
    lines = difflib.unified_diff(before or [], after or [], quote_path(source), quote_path(target))
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _files(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    budget = MAX_TREE_BYTES
    with contextlib.suppress(WalkLimitError):  # a tree too big to show is shown in part
        for fd, name, entry in walk(str(root), _SKIPPED_DIRS):
            data = read_capped(fd, name, entry) if entry.size <= budget else None
            budget -= len(data or b"")
            found[entry.path] = text_lines(entry, data)
    return found


def text_lines(entry: Entry, data: bytes | None) -> list[str]:
    """A file's lines for a diff, or one line naming what it is when it is not text."""
    if entry.kind != "file":
        return [f"({_KINDS.get(entry.kind, 'special file')} {entry.link or ''})\n"]
    if data is None:
        return ["(binary file or too large: not read)\n"]
    if b"\0" in data:  # git's test for binary, too: no terminal wants these bytes
        return ["(binary file)\n"]
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return ["(binary file)\n"]
