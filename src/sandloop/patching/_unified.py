"""The unified diff dialect (``---``/``+++``/``@@ -a,b +c,d @@``), parsed with unidiff.

The only module that imports unidiff; its errors become :class:`PatchParseError` here. Hunk
line counts are recounted before parsing, because models often get them wrong, and the header's
line numbers only say where to look first: the closest match of the old lines wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchedFile, PatchSet

from sandloop.errors import PatchParseError
from sandloop.patching._budget import Budget
from sandloop.patching._hunks import Hunk, apply_hunks
from sandloop.patching._text import join_lines, split_lines

__all__ = ("HUNK_HEADER", "apply_unified", "create_from_unified", "is_unified")

#: A unified hunk header; its presence marks a diff as unified rather than V4A.
HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_NO_NEWLINE = "\\"


def is_unified(diff: str) -> bool:
    """Whether ``diff`` looks like a unified diff (it has a ``@@ -a,b +c,d @@`` header)."""
    return any(HUNK_HEADER.match(row) for row in diff.split("\n"))


def apply_unified(original: str, diff: str, *, path: str, budget: Budget | None = None) -> str:
    """Apply a single-file unified diff to ``original`` and return the new text.

    Raises:
        PatchParseError: The diff cannot be parsed, or it is about several other files.
        PatchConflictError: A hunk's old lines are not in the file.
    """
    patched = _one_file(diff, path=path)
    hunks, final_newline = _hunks(patched)
    lines = split_lines(original)
    return apply_hunks(lines, hunks, path=path, final_newline=final_newline, budget=budget)


def create_from_unified(diff: str, *, path: str) -> str:
    """The text of a new file from a unified diff against ``/dev/null`` (or an empty file)."""
    return apply_unified("", diff, path=path)


@contextmanager
def _parse_errors(path: str) -> Iterator[None]:
    try:
        yield
    except (UnidiffParseError, ValueError) as exc:
        detail = str(exc).strip().rstrip(".")
        raise PatchParseError(f"{path}: not a valid unified diff: {detail}.", path=path) from exc


def _one_file(diff: str, *, path: str) -> PatchedFile:
    with _parse_errors(path):
        patch = PatchSet(_recount(diff, path=path))
    if len(patch) == 1:
        return patch[0]
    wanted = [f for f in patch if _bare(f.path) == _bare(path)]
    if len(wanted) != 1:
        names = ", ".join(f.path for f in patch) or "none"
        raise PatchParseError(
            f"{path}: the unified diff is about {len(patch)} files ({names}); "
            "send one diff per file.",
            path=path,
        )
    return wanted[0]


def _bare(name: str) -> str:
    return name[2:] if name[:2] in ("a/", "b/") else name


def _hunks(patched: PatchedFile) -> tuple[list[Hunk], bool | None]:
    hunks: list[Hunk] = []
    final_newline: bool | None = None
    for number, raw in enumerate(patched, 1):
        old: list[str] = []
        new: list[str | int] = []
        last = ""
        for line in raw:
            text = line.value.rstrip("\n").removesuffix("\r")
            if line.line_type == _NO_NEWLINE:
                # The marker is about the line before it: the new side lacks a final newline,
                # or (when only the old side did) the patch adds one.
                final_newline = last == "-" if last else final_newline
                continue
            last = line.line_type
            if line.is_context:
                new.append(len(old))
                old.append(text)
            elif line.is_removed:
                old.append(text)
            elif line.is_added:
                new.append(text)
        start = raw.source_start - (0 if raw.source_length == 0 else 1)
        hunks.append(Hunk(number=number, old=tuple(old), new=tuple(new), near=max(start, 0)))
    return hunks, final_newline


def _recount(diff: str, *, path: str) -> str:
    """The diff with every hunk header's line counts recomputed from the lines that follow."""
    rows = [row.removesuffix("\r") for row in diff.split("\n")]
    if rows and not rows[-1]:
        rows.pop()
    if not _has_file_header(rows):
        rows = [f"--- a/{path}", f"+++ b/{path}", *rows]
    out: list[str] = []
    i = 0
    while i < len(rows):
        match = HUNK_HEADER.match(rows[i])
        if match is None:
            out.append(rows[i])
            i += 1
            continue
        declared = (int(match.group(2) or 1), int(match.group(4) or 1))
        body, i = _hunk_body(rows, i + 1, declared)
        old = sum(1 for row in body if row[:1] in (" ", "-"))
        new = sum(1 for row in body if row[:1] in (" ", "+"))
        src, dst, rest = match.group(1), match.group(3), match.group(5)
        out.append(f"@@ -{src},{old} +{dst},{new} @@{rest}")
        out.extend(body)
    return join_lines(out)


def _has_file_header(rows: list[str]) -> bool:
    """Whether a ``---``/``+++`` pair comes before the first hunk."""
    for i, row in enumerate(rows):
        if HUNK_HEADER.match(row):
            return False
        if row.startswith("--- ") and i + 1 < len(rows) and rows[i + 1].startswith("+++ "):
            return True
    return False


def _hunk_body(rows: list[str], i: int, declared: tuple[int, int]) -> tuple[list[str], int]:
    """The lines of the hunk starting at ``rows[i]`` (blank lines read as empty context).

    ``declared`` is the header's (old, new) line counts: until they are reached, a ``---``
    line followed by ``+++`` is a removed line and an added one, not the next file's header.
    """
    body: list[str] = []
    old = new = 0
    while i < len(rows):
        row = rows[i]
        if HUNK_HEADER.match(row) or row.startswith("diff "):
            break
        header = row.startswith("--- ") and i + 1 < len(rows) and rows[i + 1].startswith("+++ ")
        if header and old >= declared[0] and new >= declared[1]:
            break
        if row[:1] not in (" ", "-", "+", _NO_NEWLINE, ""):
            break
        body.append(row or " ")
        old += row[:1] in (" ", "-", "")
        new += row[:1] in (" ", "+", "")
        i += 1
    while body and body[-1] == " " and not rows[i - 1]:
        # Blank lines after the last hunk are the end of the text, not context.
        body.pop()
        i -= 1
    return body, i
