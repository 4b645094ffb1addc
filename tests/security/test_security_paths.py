"""Writes (and reads) stay inside the workspace: file operations and patches refuse escapes.

Escapes through ``..``, absolute paths and symlinks (also chains of them) are refused by the
runner inside the sandbox and by ``ApplyPatchTool``; a symlink swapped in between the check and
the write is raced many times, in a DockerSandbox and in a LocalSandbox (where the runner runs
on the host, so a lost race would write a host file). Nothing ever appears outside.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.errors import SandboxFileError, WorkspacePathError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.base import ToolContext
from sandloop.items import ApplyPatchCall
from sandloop.sandboxes import LocalSandbox
from sandloop.sandboxes.base import Sandbox
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker

ESCAPES = [
    "../escaped.txt",
    "a/../../escaped.txt",
    "/etc/escaped.txt",
    "/tmp/escaped.txt",
    "/workspace/../tmp/escaped.txt",
    "to_root/tmp/escaped.txt",
    "to_tmp/escaped.txt",
    "chain/escaped.txt",
    "up/escaped.txt",
    "victim_link",
]

LINKS = (
    "ln -s / to_root && ln -s /tmp to_tmp && ln -s to_tmp chain && ln -s .. up && "
    "echo victim > /tmp/victim.txt && ln -s /tmp/victim.txt victim_link"
)


async def _setup_links(sandbox: Sandbox) -> None:
    made = await sandbox.exec(LINKS)
    assert made.exit_code == 0, made.stderr_text()


async def test_file_operations_refuse_every_escape(sandbox: DockerSandbox, host_dir: Path) -> None:
    await _setup_links(sandbox)
    for path in ESCAPES:
        with pytest.raises(WorkspacePathError):
            await sandbox.write_file(path, b"escaped\n")
        with pytest.raises(WorkspacePathError):
            await sandbox.read_file(path.replace("escaped.txt", "victim.txt"))
        if path != "victim_link":  # deleting a link itself is fine: it is in the workspace
            with pytest.raises(SandboxFileError):
                await sandbox.delete_file(path.replace("escaped.txt", "victim.txt"))
    with pytest.raises(WorkspacePathError):
        await sandbox.read_file("to_root/etc/passwd")
    with pytest.raises(WorkspacePathError):
        await sandbox.list_dir("..")
    await sandbox.delete_file("victim_link")
    left = await sandbox.exec("ls /tmp/escaped.txt /etc/escaped.txt /escaped.txt")
    assert left.exit_code != 0
    assert "escaped" not in left.stdout_text()
    victim = await sandbox.exec("cat /tmp/victim.txt")
    assert victim.stdout_text() == "victim\n"
    _host_untouched(host_dir)


async def test_patches_refuse_every_escape_and_change_nothing(
    sandbox: DockerSandbox, host_dir: Path
) -> None:
    await _setup_links(sandbox)
    await sandbox.write_file("keep.txt", b"keep\n")
    before = await sandbox.exec("find . -printf '%p %s %l\\n' | sort")
    tool = ApplyPatchTool()
    ctx = ToolContext(run_id="run_sec", call_id="call_1", sandbox=sandbox)
    for path in ESCAPES:
        for op in ({"type": "create_file", "path": path, "diff": "+escaped\n"},
                   {"type": "update_file", "path": path, "diff": "@@\n-x\n+escaped\n"},
                   {"type": "delete_file", "path": path}):  # fmt: skip
            call = ApplyPatchCall.model_validate(
                {"type": "apply_patch_call", "call_id": "call_1", "operation": op}
            )
            out = await tool.execute(call, ctx)
            assert out.status == "failed", (op, out.output)
    after = await sandbox.exec("find . -printf '%p %s %l\\n' | sort")
    assert after.stdout == before.stdout
    left = await sandbox.exec("ls /tmp/escaped.txt /etc/escaped.txt; cat /tmp/victim.txt")
    assert left.stdout_text() == "victim\n"
    _host_untouched(host_dir)


def _host_untouched(host_dir: Path) -> None:
    assert sorted(p.name for p in host_dir.iterdir()) == ["outside", "ws"]
    assert [p.name for p in (host_dir / "outside").iterdir()] == ["secret.txt"]
    assert (host_dir / "outside" / "secret.txt").read_text() == "host secret\n"


async def test_system_files_are_read_only_for_the_default_user(image: str) -> None:
    from security_support import TEST_LABEL

    async with DockerSandbox(image, labels=TEST_LABEL) as sb:
        tried = await sb.exec(
            "for f in /etc/passwd /usr/bin/python3 /etc/x /usr/x /x; do "
            "  (echo x >> $f) 2>/dev/null && echo WROTE $f; done; echo done"
        )
        assert tried.stdout_text() == "done\n"


# --- symlink swapped in between check and write -------------------------------------------------

#: Each race goes on until both outcomes were seen this often (the race really happened) ...
ENOUGH = 10
#: ... or this many writes were made.
MAX_WRITES = 20000


async def _race(sandbox: Sandbox, *, swapper: Any) -> tuple[list[str], list[bytes]]:
    """Write ``d/f*`` (alone, or in a multi-file ``write_files``) and read ``d/secret.txt``
    over and over while ``swapper`` flips ``d`` between a directory and a symlink leading out;
    return how each write ended, and what the reads got (the secret is only reachable through
    the link: any read is a leak)."""
    outcomes: list[str] = []
    leaks: list[bytes] = []

    async def writer(n: int) -> None:
        while (
            len(outcomes) < MAX_WRITES
            and min(outcomes.count("written"), outcomes.count("refused")) < ENOUGH
        ):
            try:
                if n % 2:  # half the writers commit several files at once (all or nothing)
                    await sandbox.write_files({f"d/f{n}": b"inside\n", f"ok{n}": b"inside\n"})
                else:
                    await sandbox.write_file(f"d/f{n}", b"inside\n")
                outcomes.append("written")
            except WorkspacePathError:
                outcomes.append("refused")
            except SandboxFileError as exc:
                outcomes.append(exc.reason)
            with contextlib.suppress(SandboxFileError):
                leaks.append(await sandbox.read_file("d/secret.txt"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(swapper)
        with anyio.fail_after(60):  # wait until the swapper runs: it has made the link once
            while (entry := await sandbox.stat("d")) is None or entry.kind != "symlink":  # noqa: ASYNC110
                await anyio.sleep(0.01)
        async with anyio.create_task_group() as writers:
            for n in range(8):
                writers.start_soon(writer, n)
        tg.cancel_scope.cancel()
    return outcomes, leaks


# Flips ./d between a real directory and a symlink to argv[1], about half the time each.
SWAPPER = r"""
import os, shutil, sys, time
target = sys.argv[1]
os.makedirs(target, exist_ok=True)
def clear():
    try:
        os.unlink("d")
    except IsADirectoryError:
        shutil.rmtree("d", ignore_errors=True)
    except OSError:
        pass
while True:
    clear()
    try:
        os.mkdir("d")
    except OSError:
        pass
    time.sleep(0.0003)
    clear()
    try:
        os.symlink(target, "d")
    except OSError:
        pass
    time.sleep(0.0003)
"""


# The file outside that reads through the swapped link would reach.
PLANT = r"""
import os, sys
os.makedirs(sys.argv[1], exist_ok=True)
with open(os.path.join(sys.argv[1], "secret.txt"), "w") as f:
    f.write("outside secret")
"""


async def _race_and_check(sandbox: Sandbox, target: str) -> None:
    async def swapper() -> None:
        await sandbox.exec(["python3", "-c", SWAPPER, target], timeout=600)

    planted = await sandbox.exec(["python3", "-c", PLANT, target])
    assert planted.exit_code == 0, planted.stderr_text()
    outcomes, leaks = await _race(sandbox, swapper=swapper)
    assert leaks == []
    # The race really happened: writes landed in the directory and were refused via the link
    # (usually ENOUGH of each; a busy machine may see fewer swaps, never none).
    assert "written" in outcomes
    assert "refused" in outcomes
    # os.listdir, not ls: under gVisor ls's statx can fail with EINVAL and print nothing.
    leaked = await sandbox.exec(
        ["python3", "-c", "import os,sys; print(os.listdir(sys.argv[1]))", target]
    )
    assert leaked.stdout_text() == "['secret.txt']\n", leaked.stderr_text()


@pytest.mark.slow
async def test_a_symlink_swapped_in_during_writes_never_lets_one_out_docker(
    sandbox: DockerSandbox,
) -> None:
    # Under gVisor too: its runsc follows a final symlink despite O_NOFOLLOW when O_DIRECTORY
    # is given, which the runner's walk checks for after every directory it opens.
    await _race_and_check(sandbox, "/tmp/outside")


@pytest.mark.slow
async def test_a_symlink_swapped_in_during_writes_never_lets_one_out_local(tmp_path: Path) -> None:
    # LocalSandbox is not isolated, but its runner still confines file operations: a lost
    # race here would write a real host file outside the workspace.
    (tmp_path / "ws").mkdir()
    target = tmp_path / "host_outside"
    async with LocalSandbox(tmp_path / "ws") as sb:
        await _race_and_check(sb, str(target))
    assert os.listdir(target) == ["secret.txt"]


async def test_a_copy_mode_export_refuses_links_out_and_writes_nothing(
    image: str, tmp_path: Path
) -> None:
    from security_support import TEST_LABEL

    ws = tmp_path / "repo"
    ws.mkdir()
    (ws / "a.txt").write_text("a\n")
    async with DockerSandbox(image, workspace=ws, mount="copy", labels=TEST_LABEL) as sb:
        await sb.exec("echo b > b.txt && ln -s a.txt inside_link")
        await sb.export(tmp_path / "good")
        assert os.readlink(tmp_path / "good" / "inside_link") == "a.txt"
        await sb.exec("ln -s /etc/passwd abs_link && ln -s ../../../etc rel_link")
        with pytest.raises(WorkspacePathError, match=r"abs_link.*rel_link.*Nothing was written"):
            await sb.export(tmp_path / "bad")
        assert not (tmp_path / "bad").exists()
        assert "+/etc/passwd" in await sb.diff()  # the change is still there to review


async def test_no_setuid_file_is_left_in_a_bind_mounted_workspace(
    image: str, host_dir: Path
) -> None:
    # The container's user may set the bit on its own files (no capability needed); the
    # sandbox clears it once the container is gone. A link to a host file is not followed.
    from security_support import TEST_LABEL

    host_file = host_dir / "outside" / "host-tool"
    host_file.write_bytes(b"#!/bin/sh\n")
    host_file.chmod(0o4755)
    async with DockerSandbox(image, workspace=host_dir / "ws", labels=TEST_LABEL) as sb:
        made = await sb.exec(
            "cp /usr/bin/id planted && chmod 4755 planted && mkdir -p sub && "
            "cp /usr/bin/id sub/group && chmod 2750 sub/group && "
            f"ln -s {host_file} link && stat -c %a planted"
        )
        assert made.stdout_text() == "4755\n"  # the bit was really set inside
    ws = host_dir / "ws"
    assert (ws / "planted").stat().st_mode & 0o7777 == 0o755
    assert (ws / "sub" / "group").stat().st_mode & 0o7777 == 0o750
    assert host_file.stat().st_mode & 0o7777 == 0o4755
