"""RunWorkspace: the run's sandbox as the run holds it — owned or borrowed, changes journaled.

Part of ``loop``. A sandbox passed to a run unstarted is the run's: it is started before the
first model request and removed when the run ends, after its copy-mode changes were taken. A
started one is borrowed and left alone. In copy mode the workspace exists only inside the
sandbox, so its changes are journaled (as a diff ``git apply`` takes) whenever they change, and a
resumed run re-applies the last ones to its fresh copy.
"""

from __future__ import annotations

from typing import Any

from sandloop.errors import SandboxError
from sandloop.loop.journal import Journal
from sandloop.sandboxes.base import Sandbox, WorkspaceChanges

__all__ = ("RunWorkspace", "reapply_changes")


async def reapply_changes(sandbox: Sandbox, records: list[dict[str, Any]]) -> str:
    """Apply a journal's last copy-mode ``changes`` to ``sandbox``'s fresh copy; return the diff
    applied (``""``: the journal has none).

    Raises:
        SandboxError: the diff does not apply (the copy is not the one the journal started from).
    """
    diff = next((r["diff"] for r in reversed(records) if r.get("kind") == "changes"), "")
    if not diff:
        return ""
    applied = await sandbox.exec(["git", "apply", "--binary", "-"], stdin=str(diff).encode())
    if not applied.ok:
        raise SandboxError(
            "could not re-apply the journaled changes to the fresh copy: "
            + applied.stderr_text()[-500:]
        )
    return str(diff)


class RunWorkspace:
    """The sandbox of one run (or none).

    Args:
        sandbox: The run's sandbox, or ``None``.
        owned: The run starts and removes it.

    Attributes:
        changes: The copied workspace's changes as last seen (``None`` in bind mode).
    """

    def __init__(self, sandbox: Sandbox | None, *, owned: bool) -> None:
        self.sandbox = sandbox
        self.owned = owned and sandbox is not None
        self.changes: WorkspaceChanges | None = None
        self._last_diff: str | None = None

    async def open(self, journal: Journal) -> None:
        """Start an owned sandbox; a resumed run's fresh copy gets the journaled changes."""
        if not self.owned or self.sandbox is None:
            return
        await self.sandbox.start()
        self._last_diff = await reapply_changes(self.sandbox, journal.records) or None

    async def record(self, journal: Journal, turn: int) -> None:
        """Journal a copied workspace's changes when they differ from the last ones."""
        if self.sandbox is None:
            return
        changes = await self.sandbox.changes()
        if changes is None:
            return
        self.changes = changes
        if changes.diff != self._last_diff:
            self._last_diff = changes.diff
            journal.write("changes", turn=turn, **changes.to_dict())

    async def release(self, journal: Journal, turn: int, error: BaseException | None) -> None:
        """Take an owned sandbox's last changes (unless it broke), then remove it."""
        if not self.owned or self.sandbox is None:
            return
        try:
            if self.sandbox.started and not isinstance(error, SandboxError):
                await self.record(journal, turn)
        finally:
            await self.sandbox.aclose()
