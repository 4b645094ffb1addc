"""All or nothing under failure: a write that fails mid-patch, or a cancelled call, is undone.

An in-memory Sandbox stands in for the runner so that a write can be made to fail on cue; the
same behaviour on the real runner is covered in test_apply_patch_tool.py and the integration tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anyio
import anyio.lowlevel
import pytest

from sandloop.errors import SandboxDiedError, SandboxFileError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.base import ToolContext
from sandloop.items import CustomToolCall
from sandloop.sandboxes.base import ExecResult, FileEntry, Sandbox


class MemorySandbox(Sandbox):
    """Files in a dict. ``fail_on`` makes writing that path raise; ``block_on`` makes it hang."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.fail_on: str | None = None
        self.die_on: str | None = None
        self.block_on: str | None = None
        self.stuck: str | None = None  # deleting this path fails
        self.started_blocking = anyio.Event()
        self.log: list[str] = []

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def exec(
        self,
        command: str | Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        user: str | None = None,
        stdin: bytes | None = None,
        max_output: int = 0,
        on_output: object = None,
    ) -> ExecResult:
        raise AssertionError("apply_patch must not run commands")

    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        if path not in self.files:
            raise SandboxFileError(f"{path}: missing", path=path, reason="not_found")
        return self.files[path]

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        await anyio.lowlevel.checkpoint()  # like real I/O: a place where cancellation lands
        self.log.append(f"write {path}")
        if path == self.fail_on:
            raise SandboxFileError(f"{path}: disk full", path=path, reason="io")
        if path == self.die_on:
            raise SandboxDiedError("the runner died")
        if path == self.block_on:
            self.started_blocking.set()
            await anyio.sleep_forever()
        self.files[path] = data

    async def delete_file(self, path: str) -> None:
        await anyio.lowlevel.checkpoint()
        self.log.append(f"delete {path}")
        if path == self.stuck:
            raise SandboxFileError(f"{path}: busy", path=path, reason="io")
        del self.files[path]

    async def stat(self, path: str) -> FileEntry | None:
        data = self.files.get(path)
        return None if data is None else FileEntry(path, "file", len(data), 0o644)

    async def list_dir(self, path: str = ".") -> list[FileEntry]:
        return []


PATCH = """*** Begin Patch
*** Update File: a.txt
-a
+A
*** Add File: b.txt
+new
*** Delete File: c.txt
*** Update File: d.txt
-d
+D
*** End Patch
"""
ORIGINAL = {"a.txt": b"a\n", "c.txt": b"c\n", "d.txt": b"d\n"}


def _call() -> CustomToolCall:
    return CustomToolCall(call_id="call_1", name="apply_patch", input=PATCH)


def _ctx(sandbox: Sandbox) -> ToolContext:
    return ToolContext(run_id="run", call_id="call_1", sandbox=sandbox)


async def test_success_writes_then_deletes() -> None:
    sandbox = MemorySandbox(ORIGINAL)
    out = await ApplyPatchTool(as_custom=True).execute(_call(), _ctx(sandbox))
    assert out.output == "M a.txt\nA b.txt\nD c.txt\nM d.txt"
    assert sandbox.files == {"a.txt": b"A\n", "b.txt": b"new\n", "d.txt": b"D\n"}
    assert sandbox.log == ["write a.txt", "write b.txt", "write d.txt", "delete c.txt"]


async def test_a_failed_write_restores_the_files_already_written() -> None:
    sandbox = MemorySandbox(ORIGINAL)
    sandbox.fail_on = "d.txt"
    out = await ApplyPatchTool(as_custom=True).execute(_call(), _ctx(sandbox))
    assert out.output == (
        "apply_patch failed: could not write d.txt: d.txt: disk full. The files already "
        "written were restored. Nothing was changed."
    )
    assert sandbox.files == ORIGINAL
    assert sandbox.log[-2:] == ["delete b.txt", "write a.txt"]


async def test_a_write_that_cannot_be_undone_does_not_claim_nothing_changed() -> None:
    sandbox = MemorySandbox(ORIGINAL)
    sandbox.fail_on = "d.txt"
    sandbox.stuck = "b.txt"  # the new file cannot be deleted again
    out = await ApplyPatchTool(as_custom=True).execute(_call(), _ctx(sandbox))
    assert out.output == (
        "apply_patch failed: could not write d.txt: d.txt: disk full. The files already "
        "written could not all be restored. Some files may be left changed: re-read them "
        "before patching again."
    )
    assert sandbox.files == {**ORIGINAL, "b.txt": b"new\n"}  # the rest is back


async def test_cancellation_mid_write_restores_and_still_cancels() -> None:
    sandbox = MemorySandbox(ORIGINAL)
    sandbox.block_on = "b.txt"
    async with anyio.create_task_group() as tg:
        tg.start_soon(ApplyPatchTool(as_custom=True).execute, _call(), _ctx(sandbox))
        await sandbox.started_blocking.wait()
        tg.cancel_scope.cancel()
    assert sandbox.files == ORIGINAL


async def test_a_dead_sandbox_stops_the_run_instead_of_becoming_output() -> None:
    sandbox = MemorySandbox(ORIGINAL)
    sandbox.die_on = "b.txt"
    with pytest.raises(SandboxDiedError):
        await ApplyPatchTool(as_custom=True).execute(_call(), _ctx(sandbox))
