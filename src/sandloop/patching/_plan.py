"""Dialect detection and all-or-nothing planning of a list of file operations.

:func:`plan_envelope` computes every file's new text from the current texts the caller read,
before anything is written: a patch whose fifth file fails changes no file at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sandloop.errors import PatchConflictError, PatchParseError
from sandloop.patching._budget import Budget
from sandloop.patching._envelope import BEGIN, FileOp, parse_envelope
from sandloop.patching._unified import apply_unified, create_from_unified, is_unified
from sandloop.patching._v4a import apply_v4a, create_from_v4a

__all__ = ("FileChange", "PatchPlan", "apply_diff", "create_from_diff", "plan_envelope")


@dataclass(frozen=True, slots=True)
class FileChange:
    """What a patch does to one file.

    Attributes:
        path: The file, relative to the workspace.
        before: Its text before the patch; ``None`` when it did not exist.
        after: Its text after the patch; ``None`` when the patch deletes it.
    """

    path: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class PatchPlan:
    """Every file change of a patch, computed and not yet written.

    Attributes:
        changes: Files to write (in the order the patch first touches them), then files to
            delete. Files the patch leaves as they were are not listed.
        summary: One line per operation: ``A path``, ``M path``, ``D path`` or
            ``R old -> new``.
    """

    changes: tuple[FileChange, ...]
    summary: tuple[str, ...]

    def touched(self) -> tuple[str, ...]:
        """The paths of :attr:`changes`."""
        return tuple(change.path for change in self.changes)


def apply_diff(
    original: str, diff: str, *, path: str, line_offset: int = 0, budget: Budget | None = None
) -> str:
    """Apply an update diff in whichever dialect it is written: unified or V4A.

    A one-file ``*** Begin Patch`` envelope updating ``path`` is accepted too.
    """
    if diff.lstrip().startswith(BEGIN):
        return _apply_wrapped(original, diff, path=path, budget=budget)
    if is_unified(diff):
        return apply_unified(original, diff, path=path, budget=budget)
    return apply_v4a(original, diff, path=path, line_offset=line_offset, budget=budget)


def create_from_diff(diff: str, *, path: str, line_offset: int = 0) -> str:
    """The text of a new file from a V4A ``+`` body or a unified diff against nothing."""
    if is_unified(diff):
        return create_from_unified(diff, path=path)
    return create_from_v4a(diff, path=path, line_offset=line_offset)


def plan_envelope(
    ops: Sequence[FileOp], files: Mapping[str, str | None], *, budget: Budget | None = None
) -> PatchPlan:
    """Compute what ``ops`` do to ``files``, in order, without writing anything.

    Args:
        ops: The operations, e.g. from :func:`parse_envelope`.
        files: The current text of every path the operations name (``path`` and
            ``move_to``), ``None`` for a path that does not exist. Missing keys count as absent.
        budget: The deadline the whole plan must meet (none by default).

    Raises:
        PatchParseError: A body is malformed.
        PatchConflictError: A hunk does not match, a file to update or delete does not exist,
            or ``create`` meets a different existing file.
        PatchTimeoutError: Matching took longer than ``budget``.
    """
    state: dict[str, str | None] = {}
    summary: list[str] = []
    for op in ops:
        for name in (op.path, op.move_to):
            if name is not None and name not in state:
                state[name] = files.get(name)
        summary.append(_step(op, state, budget))
    before = {name: files.get(name) for name in state}
    written = [FileChange(n, before[n], t) for n, t in state.items() if t is not None]
    deleted = [FileChange(n, before[n], None) for n, t in state.items() if t is None]
    changes = [c for c in (*written, *deleted) if c.before != c.after]
    return PatchPlan(tuple(changes), tuple(summary))


def _step(op: FileOp, state: dict[str, str | None], budget: Budget | None) -> str:
    """Apply one operation to ``state``; return its summary line."""
    current = state[op.path]
    if op.kind in ("add", "create"):
        text = create_from_diff(op.diff, path=op.path, line_offset=op.line_offset)
        if op.kind == "create" and current is not None and current != text:
            raise _conflict(op.path, "already exists with other content; use update_file")
        state[op.path] = text
        return f"A {op.path}"
    if current is None:
        raise _conflict(op.path, "does not exist")
    if op.kind == "delete":
        state[op.path] = None
        return f"D {op.path}"
    text = (
        apply_diff(current, op.diff, path=op.path, line_offset=op.line_offset, budget=budget)
        if op.diff.strip()
        else current  # a pure rename
    )
    if op.move_to is None or op.move_to == op.path:
        state[op.path] = text
        return f"M {op.path}"
    state[op.path] = None
    state[op.move_to] = text
    return f"R {op.path} -> {op.move_to}"


def _conflict(path: str, what: str) -> PatchConflictError:
    return PatchConflictError(f"{path}: {what}.", path=path)


def _apply_wrapped(original: str, diff: str, *, path: str, budget: Budget | None) -> str:
    ops = parse_envelope(diff)
    if len(ops) != 1 or ops[0].kind != "update" or ops[0].move_to is not None:
        raise PatchParseError(
            f"{path}: this diff is a whole patch envelope; an update takes the diff of one file "
            "(the lines after `*** Update File:`).",
            path=path,
        )
    return apply_v4a(
        original, ops[0].diff, path=path, line_offset=ops[0].line_offset, budget=budget
    )
