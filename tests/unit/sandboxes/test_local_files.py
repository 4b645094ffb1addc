"""File operations through the runner (LocalSandbox): results, errors and confinement."""

# Tests inspect the workspace with plain pathlib between awaits: nothing else runs meanwhile.
# ruff: noqa: ASYNC240

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from pathlib import Path

import pytest

from sandloop.errors import SandboxFileError, WorkspacePathError
from sandloop.sandboxes import FileEntry, LocalSandbox


async def test_write_read_roundtrip_creates_parents(sandbox: LocalSandbox, workspace: Path) -> None:
    data = bytes(range(256)) * 100
    await sandbox.write_file("a/b/c.bin", data)
    assert (workspace / "a/b/c.bin").read_bytes() == data
    assert await sandbox.read_file("a/b/c.bin") == data
    assert await sandbox.read_file(str(workspace / "a/b/c.bin")) == data  # absolute inside


async def test_write_is_atomic_and_leaves_no_temp_files(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    target = workspace / "f.txt"
    target.write_text("old")
    before = target.stat().st_ino
    await sandbox.write_file("f.txt", b"new")
    assert target.read_text() == "new"
    assert target.stat().st_ino != before  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in workspace.iterdir()) == ["f.txt"]


async def test_write_keeps_or_sets_the_mode(sandbox: LocalSandbox, workspace: Path) -> None:
    script = workspace / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    await sandbox.write_file("run.sh", b"#!/bin/sh\necho hi\n")
    assert script.stat().st_mode & 0o777 == 0o755
    await sandbox.write_file("secret", b"x", mode=0o600)
    assert (workspace / "secret").stat().st_mode & 0o777 == 0o600
    await sandbox.write_file("suid", b"x", mode=0o4755)  # never setuid/setgid through a write
    assert (workspace / "suid").stat().st_mode & 0o7777 == 0o755


async def test_read_errors_carry_a_reason(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "d").mkdir()
    (workspace / "big").write_bytes(b"x" * 100)
    for path, reason in [("missing", "not_found"), ("d", "is_directory"), (".", "is_directory")]:
        with pytest.raises(SandboxFileError) as info:
            await sandbox.read_file(path)
        assert (info.value.reason, info.value.path) == (reason, path)
    with pytest.raises(SandboxFileError) as info:
        await sandbox.read_file("big", max_bytes=10)
    assert info.value.reason == "too_large"
    assert await sandbox.read_file("big", max_bytes=100) == b"x" * 100


async def test_delete(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "f").write_text("x")
    (workspace / "d").mkdir()
    await sandbox.delete_file("f")
    assert not (workspace / "f").exists()
    with pytest.raises(SandboxFileError) as info:
        await sandbox.delete_file("f")
    assert info.value.reason == "not_found"
    with pytest.raises(SandboxFileError) as info:
        await sandbox.delete_file("d")
    assert info.value.reason == "is_directory"


async def test_stat_and_list_dir(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "src").mkdir()
    (workspace / "src/b.py").write_text("12345")
    (workspace / "src/a").mkdir()
    (workspace / "src/link").symlink_to("b.py")
    entry = await sandbox.stat("src/b.py")
    assert entry == FileEntry(path="src/b.py", kind="file", size=5, mode=entry.mode if entry else 0)
    assert (await sandbox.stat("src/link")) is not None
    assert (await sandbox.stat("src/link")).kind == "symlink"  # type: ignore[union-attr]
    assert await sandbox.stat("nope") is None
    assert await sandbox.stat("nope/deeper") is None
    listing = await sandbox.list_dir("src")
    assert [(e.path, e.kind) for e in listing] == [
        ("src/a", "dir"),
        ("src/b.py", "file"),
        ("src/link", "symlink"),
    ]
    assert [e.path for e in await sandbox.list_dir()] == ["src"]


@pytest.mark.parametrize("path", ["../outside", "a/../../outside", "/etc/passwd", "/"])
async def test_paths_leaving_the_workspace_are_refused(sandbox: LocalSandbox, path: str) -> None:
    with pytest.raises(WorkspacePathError) as info:
        await sandbox.read_file(path)
    assert info.value.path == path
    with pytest.raises(WorkspacePathError):
        await sandbox.write_file(path, b"x")


async def test_dotdot_that_stays_inside_is_fine(sandbox: LocalSandbox) -> None:
    await sandbox.write_file("a/../b.txt", b"ok")
    assert await sandbox.read_file("b.txt") == b"ok"


async def test_symlinks_leading_out_are_refused(
    sandbox: LocalSandbox, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("top secret")
    (workspace / "dirlink").symlink_to(outside)
    (workspace / "filelink").symlink_to(outside / "secret")
    (workspace / "rellink").symlink_to("../outside/secret")
    for path in ("dirlink/secret", "filelink", "rellink"):
        with pytest.raises(WorkspacePathError):
            await sandbox.read_file(path)
    with pytest.raises(WorkspacePathError):
        await sandbox.write_file("dirlink/new", b"x")
    with pytest.raises(WorkspacePathError):
        await sandbox.write_file("filelink", b"overwritten")
    with pytest.raises(WorkspacePathError):
        await sandbox.list_dir("dirlink")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "top secret"
    await sandbox.delete_file("filelink")  # removes the link itself, never its target
    assert (outside / "secret").exists()


async def test_symlinks_inside_the_workspace_are_followed(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    (workspace / "real").mkdir()
    (workspace / "real/f").write_text("data")
    (workspace / "alias").symlink_to("real")
    (workspace / "abs").symlink_to(workspace / "real/f")
    assert await sandbox.read_file("alias/f") == b"data"
    assert await sandbox.read_file("abs") == b"data"
    await sandbox.write_file("abs", b"new")  # writes the target, keeps the link
    assert (workspace / "abs").is_symlink()
    assert (workspace / "real/f").read_text() == "new"
    assert [e.path for e in await sandbox.list_dir("alias")] == ["alias/f"]


async def test_a_directory_swapped_for_a_symlink_is_caught(
    sandbox: LocalSandbox, workspace: Path, tmp_path: Path
) -> None:
    """Race a thread that swaps ``d`` between a real directory and a link out of the workspace:
    every write lands inside or is refused; none ever lands outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    stop = threading.Event()

    def swapper() -> None:
        d = workspace / "d"
        while not stop.is_set():
            with contextlib.suppress(OSError):
                d.mkdir()
            time.sleep(0)
            with contextlib.suppress(OSError):
                shutil.rmtree(d)
            with contextlib.suppress(OSError):
                d.symlink_to(outside)  # now `d` leads out of the workspace
            time.sleep(0)
            with contextlib.suppress(OSError):
                d.unlink()

    thread = threading.Thread(target=swapper)
    thread.start()
    refused = written = 0
    try:
        for i in range(300):
            try:
                await sandbox.write_file(f"d/f{i}", b"x")
                written += 1
            except SandboxFileError:
                refused += 1
    finally:
        stop.set()
        thread.join()
    assert list(outside.iterdir()) == []
    assert refused + written == 300
