"""The V4A diff dialect: parsing ``update_file`` and ``create_file`` bodies (no envelope).

See ``notes/V4A.md``. A body is cut into :class:`~sandloop.patching._hunks.Hunk` values here;
locating and splicing them is shared with the unified dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandloop.errors import PatchParseError
from sandloop.patching._budget import Budget
from sandloop.patching._hunks import Hunk, apply_hunks
from sandloop.patching._text import join_lines, split_lines

__all__ = ("apply_v4a", "create_from_v4a", "parse_v4a")

END_OF_FILE = "*** End of File"


def apply_v4a(
    original: str, diff: str, *, path: str, line_offset: int = 0, budget: Budget | None = None
) -> str:
    """Apply a V4A ``update_file`` body to ``original`` and return the new text.

    Args:
        original: The file's current text.
        diff: The body: ``@@`` anchors and lines starting with ``' '``, ``-`` or ``+``.
        path: The file's name, for messages.
        line_offset: Added to line numbers in parse errors (the body's place in an envelope).
        budget: The deadline matching must meet (none by default).

    Raises:
        PatchParseError: The body is malformed.
        PatchConflictError: A hunk or an anchor is not in the file.
        PatchTimeoutError: Matching took longer than ``budget``.
    """
    hunks = parse_v4a(diff, path=path, line_offset=line_offset)
    return apply_hunks(split_lines(original), hunks, path=path, budget=budget)


def create_from_v4a(diff: str, *, path: str = "<new file>", line_offset: int = 0) -> str:
    """The text of a new file from a ``create_file`` body (every line prefixed with ``+``).

    The result always ends with a newline. An empty line in the body is an empty line of the
    file; empty lines at the very end of the body are dropped.

    Raises:
        PatchParseError: A line does not start with ``+``.
    """
    rows = _rows(diff)
    lines: list[str] = []
    for number, row in enumerate(rows, 1):
        if row.startswith("+"):
            lines.append(row[1:])
        elif row:
            raise PatchParseError(
                f"{path}: line {number} of the new file's diff does not start with '+': "
                f"`{row[:80]}`. Every line of a created file is written as '+' and the line.",
                path=path,
                line_number=number + line_offset,
            )
        else:
            lines.append("")
    return join_lines(lines, eol=_eol(diff))


def parse_v4a(diff: str, *, path: str, line_offset: int = 0) -> list[Hunk]:
    """Cut a V4A update body into hunks.

    Raises:
        PatchParseError: A line has no valid prefix, a hunk is empty, or lines follow
            ``*** End of File``.
    """
    builder = _HunkBuilder(path=path, offset=line_offset)
    for number, row in enumerate(_rows(diff), 1):
        builder.feed(row, number)
    hunks = builder.finish()
    if not hunks:
        raise PatchParseError(f"{path}: the diff has no changes.", path=path)
    return hunks


@dataclass(slots=True)
class _HunkBuilder:
    path: str
    offset: int
    hunks: list[Hunk] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)
    old: list[str] = field(default_factory=list)
    new: list[str | int] = field(default_factory=list)
    eof: bool = False
    start: int = 1  # diff line where the open hunk began

    def feed(self, row: str, number: int) -> None:
        if row.startswith("@@"):
            if self.old or self.new or self.eof:
                self._close(number)
            if not (self.anchors or self.old or self.new):
                self.start = number
            if row[2:].strip():
                self.anchors.append(row[3:] if row.startswith("@@ ") else row[2:])
            return
        if self.eof:
            self._fail(number, f"`{row[:80]}` follows `{END_OF_FILE}`; start a new hunk with @@")
        if row.rstrip() == END_OF_FILE:
            self.eof = True
            return
        kind, text = (row[0], row[1:]) if row else (" ", "")
        if kind == " ":
            self.new.append(len(self.old))
            self.old.append(text)
        elif kind == "-":
            self.old.append(text)
        elif kind == "+":
            self.new.append(text)
        else:
            self._fail(
                number,
                f"`{row[:80]}` does not start with ' ' (context), '-' (remove), '+' (add) "
                "or '@@' (anchor)",
            )

    def finish(self) -> list[Hunk]:
        if self.anchors or self.old or self.new or self.eof:
            self._close(None)
        return self.hunks

    def _close(self, number: int | None) -> None:
        if not (self.old or self.new):
            self._fail(number or self.start, f"hunk {len(self.hunks) + 1} has no lines")
        hunk = Hunk(
            number=len(self.hunks) + 1,
            old=tuple(self.old),
            new=tuple(self.new),
            anchors=tuple(self.anchors),
            eof=self.eof,
        )
        self.hunks.append(hunk)
        self.anchors, self.old, self.new, self.eof = [], [], [], False

    def _fail(self, number: int, what: str) -> None:
        raise PatchParseError(
            f"{self.path}: line {number} of the diff: {what}.",
            path=self.path,
            line_number=number + self.offset,
        )


def _rows(diff: str) -> list[str]:
    """The diff's lines without endings; empty lines at the very end are dropped."""
    rows = [row[:-1] if row.endswith("\r") else row for row in diff.split("\n")]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _eol(diff: str) -> str:
    crlf = diff.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= diff.count("\n") else "\n"
