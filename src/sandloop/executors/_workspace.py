"""Reading a patch's files from the sandbox, and writing its plan back all or nothing.

Private to ``executors``: :mod:`.apply_patch` checks the paths, reads every file a patch
touches here, plans the change with :mod:`sandloop.patching` (pure), then writes it here as one
``Sandbox.write_files`` commit: all or nothing in the runner, even when the container dies in
the middle. For sandboxes that write one file at a time, and when the call is cancelled or the
sandbox dies, the files are put back as they were, so the workspace never holds half a patch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass

import anyio

from sandloop.errors import PatchError, SandboxError, SandboxFileError
from sandloop.patching import PatchPlan
from sandloop.sandboxes.base import Sandbox

__all__ = ("MAX_FILE_BYTES", "FileState", "read_files", "write_plan")

#: Largest file apply_patch edits (the API caps a diff at 10 MiB; files get some headroom).
MAX_FILE_BYTES = 32 * 1024 * 1024

# Text files are decoded losslessly: bytes that are not UTF-8 survive untouched lines.
_ENCODING, _ERRORS = "utf-8", "surrogateescape"


@dataclass(frozen=True, slots=True)
class FileState:
    """One path of a patch as it was before the patch.

    Attributes:
        path: Workspace-relative path.
        data: The file's bytes, or ``None`` when it does not exist.
        mode: Its permission bits, when it exists.
    """

    path: str
    data: bytes | None
    mode: int | None = None

    @property
    def text(self) -> str | None:
        """The content as text (lossless for any bytes), or ``None``."""
        return None if self.data is None else self.data.decode(_ENCODING, _ERRORS)

    @property
    def binary(self) -> bool:
        """The file looks binary (a NUL byte near the start)."""
        return self.data is not None and b"\0" in self.data[:8192]


def encode(text: str) -> bytes:
    """The bytes to write for a planned text."""
    return text.encode(_ENCODING, _ERRORS)


async def read_files(sandbox: Sandbox, paths: Iterable[str]) -> dict[str, FileState]:
    """Read every path (in order, before anything is written).

    Raises:
        WorkspacePathError: A path leads out of the workspace through a symlink.
        SandboxFileError: A path is a directory or cannot be read.
    """
    states: dict[str, FileState] = {}
    for path in paths:
        if path not in states:
            states[path] = await _read(sandbox, path)
    return states


async def _read(sandbox: Sandbox, path: str) -> FileState:
    entry = await sandbox.stat(path)
    if entry is None:
        return FileState(path, None)
    if entry.kind == "dir":
        raise SandboxFileError(
            f"{path} is a directory, not a file.", path=path, reason="is_directory"
        )
    try:
        data = await sandbox.read_file(path, max_bytes=MAX_FILE_BYTES)
    except SandboxFileError as exc:
        if entry.kind == "symlink" and exc.reason == "not_found":
            return FileState(path, None)  # a dangling link inside the workspace: writable
        raise
    return FileState(path, data, entry.mode)


async def write_plan(
    sandbox: Sandbox, plan: PatchPlan, states: Mapping[str, FileState], modes: Mapping[str, int]
) -> None:
    """Write every change of ``plan`` as one commit; on failure or cancellation, undo it.

    A sandbox with :attr:`~Sandbox.atomic_writes` (the runner) commits all or nothing, so a
    refused or failed write leaves nothing to undo. For other sandboxes, and whenever the call
    is cancelled or the sandbox dies mid-commit, every path is put back as it was.

    Args:
        sandbox: Where the files live.
        plan: The computed changes.
        states: What each path held before (for the undo).
        modes: Permission bits for new files (a renamed file keeps its source's).

    Raises:
        PatchError: A write failed; every file is back as it was (``path`` names the file).
    """
    changes = {
        change.path: None if change.after is None else encode(change.after)
        for change in plan.changes
    }
    if not changes:
        return
    atomic = sandbox.atomic_writes
    try:
        await sandbox.write_files(changes, modes={p: m for p, m in modes.items() if p in changes})
    except SandboxFileError as exc:
        message = f"could not write {exc.path}: {exc}."
        if atomic:
            raise PatchError(message, path=exc.path) from exc
        restored = await _undo(sandbox, list(changes), states)
        undone = "were restored." if restored else "could not all be restored."
        raise PatchError(
            f"{message} The files already written {undone}",
            path=exc.path,
            nothing_changed=restored,
        ) from exc
    except BaseException:
        # Cancelled, or the sandbox died: the commit may have landed, and putting back each
        # file's old content is right either way.
        await _undo(sandbox, list(changes), states)
        raise


async def _undo(sandbox: Sandbox, done: list[str], states: Mapping[str, FileState]) -> bool:
    """Put every path of ``done`` back as ``states`` says; whether all of them are back."""
    # Shielded: a cancelled call must still leave the workspace whole before it unwinds.
    with anyio.CancelScope(shield=True):
        whole = True
        left = list(reversed(done))
        while left:
            before = states[left[0]]
            try:
                if before.data is None:
                    # A new file in flight may not have landed: delete only what is there.
                    if await sandbox.stat(before.path) is not None:
                        await sandbox.delete_file(before.path)
                else:
                    await sandbox.write_file(before.path, before.data, mode=before.mode)
            except SandboxFileError:
                # Not put back (the others still are), unless the write never landed.
                whole = await _as_before(sandbox, before) and whole
            except SandboxError:
                break  # the sandbox died: the rest goes back from the host side, if it can
            left.pop(0)
        if left:
            whole = await _undo_on_host(sandbox, left, states) and whole
    return whole


async def _as_before(sandbox: Sandbox, before: FileState) -> bool:
    """Whether the path holds what it held before (its content; a missing file is missing)."""
    try:
        if before.data is None:
            return await sandbox.stat(before.path) is None
        return await sandbox.read_file(before.path, max_bytes=len(before.data)) == before.data
    except SandboxFileError:
        return False


async def _undo_on_host(
    sandbox: Sandbox, paths: list[str], states: Mapping[str, FileState]
) -> bool:
    """Put files back without the dead sandbox, where it shares its workspace with the host.

    Returns:
        Whether they were put back (``False`` when the sandbox cannot, or it failed).
    """
    with suppress(SandboxError, OSError):
        return await sandbox.restore_on_host({p: (states[p].data, states[p].mode) for p in paths})
    return False
