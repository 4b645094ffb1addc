"""write_files through the runner (LocalSandbox): several file changes, all or nothing."""

# Tests inspect the workspace with plain pathlib between awaits: nothing else runs meanwhile.
# ruff: noqa: ASYNC240

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from sandloop.errors import SandboxFileError, WorkspacePathError
from sandloop.sandboxes import LocalSandbox
from sandloop.sandboxes.base import FileEntry, Sandbox


def _snapshot(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry under root (hidden ones too): its bytes (None for a directory) and mode."""
    found: dict[str, tuple[bytes | None, int]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        found[str(path.relative_to(root))] = (data, info.st_mode & 0o7777)
    return found


def _seed(workspace: Path) -> None:
    (workspace / "keep.txt").write_text("original\n")
    (workspace / "gone.txt").write_text("delete me\n")
    script = workspace / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)


async def test_commits_writes_and_deletes_together(sandbox: LocalSandbox, workspace: Path) -> None:
    _seed(workspace)
    assert sandbox.atomic_writes
    await sandbox.write_files(
        {
            "keep.txt": b"changed\n",
            "gone.txt": None,
            "new/deep/file.txt": b"fresh\n",
            "run.sh": b"#!/bin/sh\necho hi\n",
            "secret": b"s",
        },
        modes={"secret": 0o600},
    )
    assert (workspace / "keep.txt").read_text() == "changed\n"
    assert not (workspace / "gone.txt").exists()
    assert (workspace / "new/deep/file.txt").read_text() == "fresh\n"
    assert (workspace / "run.sh").stat().st_mode & 0o777 == 0o755  # the mode is kept
    assert (workspace / "secret").stat().st_mode & 0o777 == 0o600
    # No staged or set-aside files are left beside the targets.
    names = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*"))
    assert names == ["keep.txt", "new", "new/deep", "new/deep/file.txt", "run.sh", "secret"]


@pytest.mark.parametrize(
    ("bad", "error", "reason"),
    [
        ({"../outside.txt": b"x"}, WorkspacePathError, "escape"),
        ({"/etc/passwd": b"x"}, WorkspacePathError, "escape"),
        ({"link/escape.txt": b"x"}, WorkspacePathError, "escape"),
        ({"adir": b"x"}, SandboxFileError, "is_directory"),
        ({"missing.txt": None}, SandboxFileError, "not_found"),
        ({"keep.txt/under": b"x"}, SandboxFileError, "not_a_directory"),
        ({"adir": None}, SandboxFileError, "is_directory"),
    ],
)
async def test_a_later_bad_path_changes_nothing(
    sandbox: LocalSandbox,
    workspace: Path,
    tmp_path: Path,
    bad: Mapping[str, bytes | None],
    error: type[Exception],
    reason: str,
) -> None:
    _seed(workspace)
    (workspace / "adir").mkdir()
    (workspace / "adir" / "inside.txt").write_text("i\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "link").symlink_to(outside)
    before = _snapshot(workspace)
    changes: dict[str, bytes | None] = {
        "keep.txt": b"changed\n",
        "gone.txt": None,
        "brand/new/dirs/file.txt": b"fresh\n",
        "run.sh": b"replaced\n",
    }
    changes.update(bad)
    with pytest.raises(SandboxFileError) as info:
        await sandbox.write_files(changes)
    assert type(info.value) is error
    assert info.value.reason == reason
    assert info.value.path == next(iter(bad))
    # Nothing changed: contents, modes, no new directories, no staged or hidden files.
    assert _snapshot(workspace) == before
    assert list(outside.iterdir()) == []


async def test_two_spellings_of_one_file_are_refused(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    _seed(workspace)
    before = _snapshot(workspace)
    with pytest.raises(SandboxFileError) as info:
        await sandbox.write_files({"keep.txt": b"a", "sub/../keep.txt": b"b"})
    assert info.value.path == "sub/../keep.txt"
    assert _snapshot(workspace) == before


@pytest.mark.parametrize("unnamed", [True, False], ids=["o_tmpfile", "named_temp"])
def test_a_directory_put_in_the_way_after_staging_rolls_back(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    """A failure in the commit loop itself puts back every change made before it.

    The runner's commit is driven in-process here, so the test can make the last rename fail
    after the earlier ones landed (a directory appears where a file was staged).
    """
    from sandloop_runner import commits, common, serve

    monkeypatch.setattr(commits, "_UNNAMED", [unnamed])
    _seed(workspace)
    before = _snapshot(workspace)
    runner = serve.Runner(str(workspace), -1, -1)
    original = commits._commit

    def commit_after_a_directory_appears(commit: commits.Commit) -> None:
        (workspace / "late").mkdir()
        (workspace / "late" / "x").write_text("x")
        original(commit)

    files: list[dict[str, str | None]] = [
        {"path": "keep.txt", "data": "Y2hhbmdlZAo="},
        {"path": "gone.txt", "data": None},
        {"path": "new.txt", "data": "bmV3Cg=="},
        {"path": "fresh/deep/f.txt", "data": "Zgo="},  # directories made in the loop
        {"path": "late", "data": "bGF0ZQo="},
    ]
    monkeypatch.setattr(commits, "_commit", commit_after_a_directory_appears)
    with pytest.raises(common.FileOpError) as info:
        commits.op_write_files(runner, {"files": files})
    assert info.value.path == "late"
    after = _snapshot(workspace)
    del after["late"], after["late/x"]
    assert after == before
    monkeypatch.setattr(commits, "_commit", original)
    files[-1] = {**files[-1], "path": "late2"}
    assert commits.op_write_files(runner, {"files": files}) == {"count": 5}
    assert (workspace / "fresh/deep/f.txt").read_text() == "f\n"
    assert (workspace / "keep.txt").read_text() == "changed\n"
    assert (workspace / "late2").read_text() == "late\n"
    assert not (workspace / "gone.txt").exists()
    assert not [p for p in workspace.rglob("*sandloop*")]


def test_staged_content_has_no_name_until_the_commit(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With O_TMPFILE, a runner killed while staging leaves no file behind."""
    from sandloop_runner import commits, serve

    try:
        os.close(os.open(workspace, os.O_TMPFILE | os.O_WRONLY, 0o600))
    except (AttributeError, OSError):  # pragma: no cover - Linux filesystems have it
        pytest.skip("no O_TMPFILE on this filesystem")
    monkeypatch.setattr(commits, "_UNNAMED", [True])
    _seed(workspace)
    before = _snapshot(workspace)
    seen: list[dict[str, tuple[bytes | None, int]]] = []
    original = commits._commit

    def look_then_commit(commit: commits.Commit) -> None:
        seen.append(_snapshot(workspace))
        original(commit)

    monkeypatch.setattr(commits, "_commit", look_then_commit)
    runner = serve.Runner(str(workspace), -1, -1)
    files = [
        {"path": "keep.txt", "data": "eA=="},
        {"path": "new.txt", "data": "eQ=="},
        {"path": "pkg/sub/mod.py", "data": "eg=="},
        {"path": "pkg/sub/other.py", "data": "dw=="},
    ]
    commits.op_write_files(runner, {"files": files})
    assert seen == [before]  # everything staged, nothing named and no directory made yet
    assert (workspace / "new.txt").read_text() == "y"
    assert (workspace / "pkg/sub/mod.py").read_text() == "z"
    assert (workspace / "pkg/sub/other.py").read_text() == "w"


def test_new_directories_are_made_at_commit_even_without_o_tmpfile(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandloop_runner import commits, serve

    monkeypatch.setattr(commits, "_UNNAMED", [False])
    runner = serve.Runner(str(workspace), -1, -1)
    files = [{"path": "a/b/c.txt", "data": "Yw==", "mode": 0o640}, {"path": "a/d.txt", "data": ""}]
    commits.op_write_files(runner, {"files": files})
    assert (workspace / "a/b/c.txt").read_text() == "c"
    assert (workspace / "a/b/c.txt").stat().st_mode & 0o777 == 0o640
    assert (workspace / "a/d.txt").read_bytes() == b""
    assert not [p for p in workspace.rglob("*sandloop*")]


async def test_an_empty_change_set_is_a_no_op(sandbox: LocalSandbox, workspace: Path) -> None:
    await sandbox.write_files({})
    assert list(workspace.iterdir()) == []


async def test_a_symlinked_target_is_written_through_inside_the_workspace(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    (workspace / "real.txt").write_text("old\n")
    (workspace / "alias.txt").symlink_to("real.txt")
    await sandbox.write_files({"alias.txt": b"new\n"})
    assert (workspace / "alias.txt").is_symlink()
    assert (workspace / "real.txt").read_text() == "new\n"
    await sandbox.write_files({"alias.txt": None})  # a delete removes the link, not its target
    assert not (workspace / "alias.txt").exists()
    assert (workspace / "real.txt").read_text() == "new\n"


class _OneByOne(Sandbox):
    """A minimal third-party sandbox: only the abstract methods, over a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def exec(self, command: object, **options: object) -> object:  # type: ignore[override]
        raise NotImplementedError

    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        return (self.root / path).read_bytes()

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        self.calls.append(f"write {path} {mode}")
        (self.root / path).write_bytes(data)

    async def delete_file(self, path: str) -> None:
        self.calls.append(f"delete {path}")
        (self.root / path).unlink()

    async def stat(self, path: str) -> FileEntry | None:
        raise NotImplementedError

    async def list_dir(self, path: str = ".") -> list[FileEntry]:
        raise NotImplementedError


async def test_the_default_applies_changes_in_order_and_is_not_atomic(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    sandbox = _OneByOne(tmp_path)
    assert not sandbox.atomic_writes
    await sandbox.write_files({"a.txt": b"a", "old.txt": None}, modes={"a.txt": 0o600})
    assert sandbox.calls == ["write a.txt 384", "delete old.txt"]
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


class _CountingSandbox(LocalSandbox):
    """A LocalSandbox that counts single-file writes (apply_patch's undo would use them)."""

    single_writes = 0

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        self.single_writes += 1
        await super().write_file(path, data, mode=mode)


async def test_apply_patch_commits_through_write_files_and_says_nothing_changed(
    workspace: Path,
) -> None:
    from sandloop.executors.apply_patch import ApplyPatchTool
    from sandloop.executors.base import ToolContext
    from sandloop.items import CustomToolCall

    _seed(workspace)
    before = _snapshot(workspace)
    # The reads find nothing at run.sh/x.txt; only the commit sees run.sh is not a directory.
    envelope = (
        "*** Begin Patch\n*** Update File: keep.txt\n@@\n-original\n+changed\n"
        "*** Add File: fresh/new.txt\n+new\n*** Delete File: gone.txt\n"
        "*** Add File: run.sh/x.txt\n+in the way\n*** End Patch\n"
    )
    tool = ApplyPatchTool(as_custom=True)
    async with _CountingSandbox(workspace) as sandbox:
        ctx = ToolContext(run_id="run", call_id="call_1", sandbox=sandbox)
        call = CustomToolCall(call_id="call_1", name="apply_patch", input=envelope)
        out = await tool.execute(call, ctx)
        assert isinstance(out.output, str)
        assert out.output.startswith("apply_patch failed: could not write run.sh/x.txt")
        assert out.output.endswith("Nothing was changed.")
        assert _snapshot(workspace) == before
        assert sandbox.single_writes == 0  # one commit, refused whole: nothing to undo
        ok = envelope.replace("*** Add File: run.sh/x.txt\n+in the way\n", "")
        out = await tool.execute(CustomToolCall(call_id="c2", name="apply_patch", input=ok), ctx)
        assert out.output == "M keep.txt\nA fresh/new.txt\nD gone.txt"
        assert sandbox.single_writes == 0
    assert (workspace / "keep.txt").read_text() == "changed\n"
    assert (workspace / "fresh/new.txt").read_text() == "new\n"
    assert not (workspace / "gone.txt").exists()


async def test_a_commit_of_many_files_does_not_run_out_of_descriptors(workspace: Path) -> None:
    import resource

    # The runner inherits a 400-descriptor limit; the commit has 1500 files in a few deep
    # directories.
    changes: dict[str, bytes | None] = {
        f"pkg/sub{i % 3}/deeper/mod{i}.py": f"n = {i}\n".encode() for i in range(1500)
    }
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(400, hard), hard))
    try:
        sandbox = LocalSandbox(workspace)
        await sandbox.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    async with sandbox:
        await _many_files(sandbox, workspace, changes)


async def _many_files(
    sandbox: LocalSandbox, workspace: Path, changes: dict[str, bytes | None]
) -> None:
    limit = await sandbox.exec("ulimit -n")
    assert limit.stdout.strip() == b"400"
    await sandbox.write_files(changes)
    written = sorted(workspace.rglob("mod*.py"))
    assert len(written) == 1500
    assert (workspace / "pkg/sub2/deeper/mod1499.py").read_text() == "n = 1499\n"
    assert not [p for p in workspace.rglob("*sandloop*")]
    await sandbox.write_files(dict.fromkeys(changes))  # and delete them all at once
    assert not list(workspace.rglob("mod*.py"))


async def test_a_cancelled_caller_waits_for_the_commit_to_end_whole(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    import anyio

    big = os.urandom(16 * 1024 * 1024)
    changes: dict[str, bytes | None] = {"one.bin": big, "two/two.bin": big, "three.txt": b"3"}
    with anyio.move_on_after(0.01) as scope:
        await sandbox.write_files(changes)
    names = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*"))
    assert names == ["one.bin", "three.txt", "two", "two/two.bin"]  # all landed, no leftovers
    assert (workspace / "two/two.bin").read_bytes() == big
    assert scope.cancel_called  # the deadline did fire; the commit was not abandoned
    assert (await sandbox.exec(["true"])).ok  # and the channel is still in step
