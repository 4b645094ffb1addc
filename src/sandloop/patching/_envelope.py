"""The ``*** Begin Patch`` envelope: parsing it into file operations.

Planning the operations against the files' current text is in :mod:`._plan`; the executor reads
and writes the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NoReturn

from sandloop.errors import PatchParseError

__all__ = ("FileOp", "parse_envelope")

BEGIN, END = "*** Begin Patch", "*** End Patch"
_ADD, _DELETE, _UPDATE = "*** Add File:", "*** Delete File:", "*** Update File:"
_MOVE = "*** Move to:"
_END_OF_FILE = "*** End of File"


@dataclass(frozen=True, slots=True)
class FileOp:
    """One file operation of a patch.

    Attributes:
        kind: ``add`` (envelope Add File: writes the file, replacing one that exists),
            ``create`` (the hosted tool's ``create_file``: fails if a different file exists),
            ``update`` or ``delete``.
        path: The file, relative to the workspace.
        diff: The body: ``+`` lines for add/create, a V4A or unified diff for update.
        move_to: For an update, the path the result is written to instead (a rename).
        line_offset: Lines of the envelope before the body, to report envelope line numbers.
    """

    kind: Literal["add", "create", "update", "delete"]
    path: str
    diff: str = ""
    move_to: str | None = None
    line_offset: int = 0


def parse_envelope(text: str) -> list[FileOp]:
    """Parse a ``*** Begin Patch`` ... ``*** End Patch`` envelope into file operations.

    Raises:
        PatchParseError: The envelope is malformed; ``line_number`` says where.
    """
    rows = [row.removesuffix("\r") for row in text.removeprefix("\ufeff").split("\n")]
    while rows and not rows[-1].strip():
        rows.pop()
    first = next((i for i, row in enumerate(rows) if row.strip()), len(rows))
    if first == len(rows) or rows[first].strip() != BEGIN:
        _fail(first + 1, f"a patch starts with `{BEGIN}`")
    ops: list[FileOp] = []
    i = first + 1
    while i < len(rows) and rows[i].strip() != END:
        if not rows[i].strip():
            i += 1  # blank lines between sections carry nothing
            continue
        op, i = _section(rows, i)
        ops.append(op)
    if i == len(rows):
        _fail(i + 1, f"no `{END}` line: the patch looks cut off, so none of it was applied")
    if not ops:
        _fail(i + 1, "the patch has no file sections")
    if extra := next((j for j in range(i + 1, len(rows)) if rows[j].strip()), None):
        _fail(extra + 1, f"text after `{END}`")
    return ops


def _section(rows: list[str], i: int) -> tuple[FileOp, int]:
    """Parse the file section whose header is ``rows[i]``; return it and the next index."""
    kind, path = _header(rows[i], i + 1)
    if kind == "delete":
        return FileOp("delete", path), i + 1
    move_to = None
    if kind == "update" and i + 1 < len(rows) and rows[i + 1].startswith(_MOVE):
        i += 1
        move_to = rows[i][len(_MOVE) :].strip()
        if not move_to:
            _fail(i + 1, f"`{_MOVE}` needs a path")
    start = i + 1
    end = _body_end(rows, start)
    body = "\n".join(rows[start:end])
    if kind == "update" and not body.strip() and move_to is None:
        _fail(i + 1, f"`{_UPDATE} {path}` has no changes")
    if kind == "add":
        return FileOp("add", path, body, line_offset=start), end
    return FileOp("update", path, body, move_to=move_to, line_offset=start), end


def _header(row: str, line_number: int) -> tuple[str, str]:
    """The kind and path of a section header line."""
    for marker, kind in ((_ADD, "add"), (_DELETE, "delete"), (_UPDATE, "update")):
        if row.startswith(marker):
            path = row[len(marker) :].strip()
            if not path:
                _fail(line_number, f"`{marker}` needs a path")
            return kind, path
    _fail(line_number, f"expected `{_ADD}`, `{_DELETE}` or `{_UPDATE}`, got `{row[:80]}`")


def _body_end(rows: list[str], i: int) -> int:
    """Index of the first row after the body that starts at ``rows[i]``."""
    while i < len(rows):
        row = rows[i]
        if row.startswith("***") and row.rstrip() != _END_OF_FILE:
            if row.rstrip() == END or row.startswith((_ADD, _DELETE, _UPDATE)):
                return i
            _fail(i + 1, f"unknown marker `{row[:80]}`")
        i += 1
    return i


def _fail(line_number: int, what: str) -> NoReturn:
    raise PatchParseError(f"patch line {line_number}: {what}.", line_number=line_number)
