"""Applying located hunks: the one edit step shared by the V4A and unified dialects.

Each dialect parses its text into :class:`Hunk` values; :func:`apply_hunks` finds them in the
file in order (one forward cursor, an index per fuzz level) and splices the new lines in. All
hunks are located before anything is produced, so a failure leaves no half-patched text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sandloop.patching._budget import Budget
from sandloop.patching._match import LineIndex
from sandloop.patching._report import anchor_missing, block_missing
from sandloop.patching._text import TextLines, join_lines

__all__ = ("Hunk", "apply_hunks")


@dataclass(frozen=True, slots=True)
class Hunk:
    """One change to a file, in a dialect-neutral form.

    Attributes:
        number: 1-based position of the hunk in its diff (for messages).
        old: The lines the file must contain here: context and removed lines, in order.
        new: What replaces them: a ``str`` is an added line, an ``int`` the index in ``old`` of
            a context line, which keeps the file's own text even when it matched fuzzily.
        anchors: Lines to find first, in order (V4A ``@@ text``); the hunk comes after them.
        eof: The old lines must be the last lines of the file (V4A ``*** End of File``).
        near: Where the old lines should start (0-based), from a unified diff's header; the
            closest match wins instead of the first one.
    """

    number: int
    old: tuple[str, ...]
    new: tuple[str | int, ...]
    anchors: tuple[str, ...] = ()
    eof: bool = False
    near: int | None = None


def apply_hunks(
    text: TextLines,
    hunks: Sequence[Hunk],
    *,
    path: str,
    final_newline: bool | None = None,
    budget: Budget | None = None,
) -> str:
    """Apply ``hunks`` to ``text`` in order and return the new text.

    Args:
        text: The file, split.
        hunks: The changes, in file order.
        path: The file's name, for messages.
        final_newline: Force whether the result ends with a newline; by default it keeps the
            original's.
        budget: The deadline matching must meet (checked between and inside searches).

    Raises:
        PatchConflictError: An anchor or a hunk's lines are not in the file after the previous
            hunk. Nothing is returned.
        PatchTimeoutError: Matching took longer than ``budget``.
    """
    lines = text.lines
    index = LineIndex(lines, budget=budget)
    out: list[str] = []
    cursor = shared = 0
    for hunk in hunks:
        index.budget.check()
        at, end = _locate(index, hunk, cursor=cursor, shared=shared, path=path)
        skip = max(0, cursor - at)  # context repeated from the previous hunk: already written
        out.extend(lines[cursor:at])
        out.extend(lines[at + item] if isinstance(item, int) else item for item in hunk.new[skip:])
        cursor, shared = end, _kept_tail(hunk)
    out.extend(lines[cursor:])
    keep = text.final_newline if final_newline is None else final_newline
    return join_lines(out, eol=text.eol, final_newline=keep, bom=text.bom)


def _locate(
    index: LineIndex, hunk: Hunk, *, cursor: int, shared: int, path: str
) -> tuple[int, int]:
    """The span ``[at, end)`` of the file that ``hunk`` replaces.

    ``at`` is before ``cursor`` only when the hunk starts by repeating the last ``shared``
    context lines of the previous hunk, which models sometimes do despite being asked not to.
    """
    start, anchor_at = cursor, None
    for anchor in hunk.anchors:
        anchor_at = index.find_line(anchor, start=start)
        if anchor_at is None:
            raise anchor_missing(index, hunk, anchor, start=start, path=path)
        start = anchor_at + 1
    if not hunk.old:
        point = _insertion_point(index, hunk, cursor, anchor_at)
        return point, point
    # The block may begin on the anchor line itself: models often repeat it as context.
    search = cursor if anchor_at is None else anchor_at
    found = index.find_block(hunk.old, start=search, eof=hunk.eof, near=hunk.near)
    if found is None and anchor_at is None and shared:
        found = index.find_block(hunk.old, start=cursor - shared, eof=hunk.eof, near=hunk.near)
        if found is not None and hunk.new[: cursor - found] != tuple(range(cursor - found)):
            found = None  # the repeated lines are not untouched context: no safe reading
    if found is None:
        raise block_missing(index, hunk, start=search, path=path)
    return found, found + len(hunk.old)


def _kept_tail(hunk: Hunk) -> int:
    """How many of the hunk's last old lines it keeps as they are, at its very end."""
    count, last = 0, len(hunk.old) - 1
    for item in reversed(hunk.new):
        if not isinstance(item, int) or item != last - count:
            break
        count += 1
    return count


def _insertion_point(index: LineIndex, hunk: Hunk, cursor: int, anchor_at: int | None) -> int:
    """Where a pure addition goes: after its anchor, at its line number, else at the end."""
    if anchor_at is not None and not hunk.eof:
        return anchor_at + 1
    if hunk.near is not None:
        return min(max(hunk.near, cursor), len(index.lines))
    return len(index.lines)
