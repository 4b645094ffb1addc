"""Failure messages for hunks that do not apply, written for the model that sent them.

A message names the file, the hunk, the first line that did not match and the lines the file
actually has there, so the next attempt can be corrected without re-reading the whole file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandloop.errors import PatchConflictError

if TYPE_CHECKING:
    from sandloop.patching._hunks import Hunk
    from sandloop.patching._match import LineIndex

__all__ = ("anchor_missing", "block_missing")

_RETRY = "Re-read the file and resend the diff with lines that match it."
_MAX_SHOWN = 200  # characters of one quoted line


def anchor_missing(
    index: LineIndex, hunk: Hunk, anchor: str, *, start: int, path: str
) -> PatchConflictError:
    """The error for an ``@@ anchor`` line that is not in the file after ``start``."""
    where = f" after line {start}" if start else ""
    near = index.similar(anchor, start=start)
    shown = _show(index, near)
    return PatchConflictError(
        f"{path}: hunk {hunk.number}: the anchor line `@@ {_clip(anchor)}` is not in the "
        f"file{where}.{_intro(shown, 'Lines that look closest')}{shown}\n",
        path=path,
        next_step=_RETRY,
        hunk=hunk.number,
        line=anchor,
        closest=tuple(index.lines[i] for i in near),
    )


def block_missing(index: LineIndex, hunk: Hunk, *, start: int, path: str) -> PatchConflictError:
    """The error for a hunk whose context and removed lines are not in the file."""
    if hunk.eof and (elsewhere := index.find_block(hunk.old, start=start)) is not None:
        tail = list(range(max(0, len(index.lines) - 3), len(index.lines)))
        return _conflict(
            path,
            hunk,
            f"hunk {hunk.number} is marked `*** End of File`, but its lines are at line "
            f"{elsewhere + 1}, not at the end of the file. The file ends with:",
            hunk.old[0],
            tail,
            index,
        )
    at, bad = index.closest(hunk.old, start=start)
    where = f" (searching from line {start + 1})" if start else ""
    line = hunk.old[bad]
    if at < 0:
        near = index.similar(line, start=start)
        head = f"none of its lines is in the file{where}; first: `{_clip(line)}`."
        return _conflict(path, hunk, head, line, near, index, "Lines that look closest:")
    spot = at + bad
    shown = list(range(max(0, spot - 2), min(len(index.lines), spot + 3)))
    what = "is past the end of the file" if spot >= len(index.lines) else "does not match the file"
    head = (
        f"line {bad + 1} of the hunk, `{_clip(line)}`, {what}{where}. "
        f"The best match of the hunk is at line {at + 1}; around the mismatch the file has:"
    )
    return _conflict(path, hunk, head, line, shown, index)


def _conflict(
    path: str,
    hunk: Hunk,
    head: str,
    line: str,
    shown: list[int],
    index: LineIndex,
    intro: str = "",
) -> PatchConflictError:
    text = _show(index, shown)
    lead = f" {intro}" if intro and text else ""
    return PatchConflictError(
        f"{path}: hunk {hunk.number} did not apply: {head}{lead}{text}\n",
        path=path,
        next_step=_RETRY,
        hunk=hunk.number,
        line=line,
        closest=tuple(index.lines[i] for i in shown),
    )


def _intro(shown: str, words: str) -> str:
    return f" {words}:" if shown else ""


def _show(index: LineIndex, positions: list[int]) -> str:
    return "".join(f"\n  {i + 1:>5} | {_clip(index.lines[i])}" for i in positions)


def _clip(line: str) -> str:
    return line if len(line) <= _MAX_SHOWN else line[:_MAX_SHOWN] + "…"
