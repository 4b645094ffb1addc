"""ApplyPatchTool in a real DockerSandbox: edits land, failures and escapes change nothing.

Bind mode is checked on the host directory; copy mode through the sandbox and its diff.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.base import ToolContext
from sandloop.items import ApplyPatchCall, ApplyPatchCallOutput, CustomToolCall
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
async def sandbox(
    base_image: str, workspace: Path, runtime: str | None
) -> AsyncIterator[DockerSandbox]:
    async with DockerSandbox(base_image, workspace=workspace, runtime=runtime) as sb:
        yield sb


def _ctx(sandbox: DockerSandbox) -> ToolContext:
    return ToolContext(run_id="run_it", call_id="call_1", sandbox=sandbox)


async def _hosted(sandbox: DockerSandbox, operation: dict[str, str]) -> ApplyPatchCallOutput:
    call = ApplyPatchCall.model_validate(
        {"type": "apply_patch_call", "call_id": "call_1", "operation": operation}
    )
    out = await ApplyPatchTool().execute(call, _ctx(sandbox))
    assert isinstance(out, ApplyPatchCallOutput)
    return out


async def _envelope(sandbox: DockerSandbox, text: str) -> str:
    call = CustomToolCall(call_id="call_1", name="apply_patch", input=text)
    out = await ApplyPatchTool(as_custom=True).execute(call, _ctx(sandbox))
    assert isinstance(out.output, str)
    return out.output


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


async def test_create_update_delete_and_move(sandbox: DockerSandbox, workspace: Path) -> None:
    (workspace / "src").mkdir()
    (workspace / "src/app.py").write_text('def greet():\n    print("Hi")\n')
    (workspace / "obsolete.txt").write_text("old\n")

    created = await _hosted(sandbox, {"type": "create_file", "path": "docs/a.md", "diff": "+# A"})
    assert (created.status, created.output) == ("completed", "A docs/a.md")
    updated = await _hosted(
        sandbox, {"type": "update_file", "path": "docs/a.md", "diff": " # A\n+\n+More.\n"}
    )
    assert (updated.status, updated.output) == ("completed", "M docs/a.md")
    deleted = await _hosted(sandbox, {"type": "delete_file", "path": "/workspace/obsolete.txt"})
    assert (deleted.status, deleted.output) == ("completed", "D obsolete.txt")
    moved = await _envelope(
        sandbox,
        "*** Begin Patch\n*** Update File: src/app.py\n*** Move to: src/main.py\n"
        '@@ def greet():\n-    print("Hi")\n+    print("Hello")\n*** End Patch\n',
    )
    assert moved == "R src/app.py -> src/main.py"

    assert _tree(workspace) == {
        "docs/a.md": b"# A\n\nMore.\n",
        "src/main.py": b'def greet():\n    print("Hello")\n',
    }
    # The files belong to the host user (the container ran as them).
    assert (workspace / "src/main.py").stat().st_uid == os.getuid()


async def test_failing_hunk_fails_and_leaves_the_file(
    sandbox: DockerSandbox, workspace: Path
) -> None:
    (workspace / "a.py").write_text("x = 1\ny = 2\n")
    out = await _hosted(
        sandbox, {"type": "update_file", "path": "a.py", "diff": " x = 1\n-y = 3\n+y = 4\n"}
    )
    assert out.status == "failed"
    assert out.output is not None
    assert out.output.startswith("a.py: hunk 1 did not apply")
    assert "2 | y = 2" in out.output
    assert (workspace / "a.py").read_text() == "x = 1\ny = 2\n"


@pytest.mark.parametrize("path", ["../escape.txt", "/tmp/escape.txt", "/etc/escape.txt"])
async def test_paths_outside_the_workspace_write_nowhere(
    sandbox: DockerSandbox, workspace: Path, path: str
) -> None:
    out = await _hosted(sandbox, {"type": "create_file", "path": path, "diff": "+pwned"})
    assert out.status == "failed"
    assert out.output is not None
    assert out.output.startswith("refused:")
    assert _tree(workspace.parent) == {}
    probe = await sandbox.exec(["sh", "-c", "ls /tmp/escape.txt /etc/escape.txt /escape.txt"])
    assert probe.exit_code != 0
    assert b"escape.txt" not in probe.stdout


@pytest.mark.parametrize("target", ["/etc", "../outside"], ids=["absolute-link", "relative-link"])
async def test_symlinks_leading_out_are_refused(
    sandbox: DockerSandbox, workspace: Path, target: str
) -> None:
    outside = workspace.parent / "outside"
    outside.mkdir()
    (outside / "hosts").write_text("127.0.0.1 localhost\n")
    (workspace / "link").symlink_to(target)

    update = await _hosted(
        sandbox,
        {"type": "update_file", "path": "link/hosts", "diff": "+6.6.6.6 evil\n"},
    )
    create = await _hosted(sandbox, {"type": "create_file", "path": "link/new", "diff": "+x"})
    for out in (update, create):
        assert out.status == "failed"
        assert out.output is not None
        assert out.output.startswith("refused:")
    assert (outside / "hosts").read_text() == "127.0.0.1 localhost\n"
    assert sorted(p.name for p in outside.iterdir()) == ["hosts"]


async def test_envelope_all_or_nothing_in_the_container(
    sandbox: DockerSandbox, workspace: Path
) -> None:
    (workspace / "keep.txt").write_text("keep\n")
    before = _tree(workspace)
    output = await _envelope(
        sandbox,
        "*** Begin Patch\n*** Add File: new.txt\n+new\n*** Delete File: keep.txt\n"
        "*** Update File: keep.txt\n-nope\n+x\n*** End Patch\n",
    )
    assert output.startswith("apply_patch failed: keep.txt: does not exist")
    assert _tree(workspace) == before


async def test_copy_mode_edits_the_container_not_the_host(base_image: str, workspace: Path) -> None:
    (workspace / "a.txt").write_text("one\ntwo\n")
    async with DockerSandbox(base_image, workspace=workspace, mount="copy") as sandbox:
        out = await _hosted(
            sandbox, {"type": "update_file", "path": "a.txt", "diff": " one\n-two\n+2\n"}
        )
        assert out.status == "completed"
        assert await sandbox.read_file("a.txt") == b"one\n2\n"
        assert "+2" in await sandbox.diff()
    assert (workspace / "a.txt").read_text() == "one\ntwo\n"
