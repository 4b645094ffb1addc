"""DockerSandbox on an image without python3: one `docker exec` per call, same semantics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import docker.errors
import pytest

from sandloop.errors import SandboxError, SandboxFileError, WorkspacePathError
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.images import BOOTSTRAP_BASE, DEFAULT_BASE, build_images

pytestmark = pytest.mark.docker

# Lists the command lines of every process, without ps (not in a bare Debian image).
PROCESSES = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done 2>/dev/null"


@pytest.fixture(scope="session")
def bare_image(docker_client: Any) -> str:
    """A Debian image without python3: the base sandloop/base was built on."""
    build_images(["base"], log=lambda line: None)
    for ref in (BOOTSTRAP_BASE, DEFAULT_BASE):
        try:
            docker_client.images.get(ref)
            return ref
        except docker.errors.ImageNotFound:
            continue
    pytest.fail("building sandloop/base left neither base image behind", pytrace=False)


@pytest.fixture
async def sandbox(bare_image: str, tmp_path: Path) -> AsyncIterator[DockerSandbox]:
    async with DockerSandbox(bare_image, workspace=tmp_path) as sb:
        assert sb._runner().hello.get("fallback") == "docker-exec"
        yield sb


async def test_exec_semantics(sandbox: DockerSandbox, tmp_path: Path) -> None:
    result = await sandbox.exec("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert (await sandbox.exec(["cat"], stdin=b"\x00\xffpiped")).stdout == b"\x00\xffpiped"
    (tmp_path / "sub").mkdir()
    assert (await sandbox.exec("pwd", cwd="sub")).stdout == b"/workspace/sub\n"
    assert (await sandbox.exec("printf %s $X", env={"X": "ü"})).stdout.decode() == "ü"
    capped = await sandbox.exec("head -c 5000000 /dev/zero", max_output=100)
    assert (len(capped.stdout), capped.stdout_dropped) == (100, 5000000 - 100)


async def test_timeout_and_cancel_kill_the_process_group(sandbox: DockerSandbox) -> None:
    result = await sandbox.exec("sleep 301 & sleep 302", timeout=1)
    assert result.timed_out
    with anyio.move_on_after(1):
        await sandbox.exec("sleep 303 & sleep 304")
    with anyio.fail_after(20):
        while b"sleep 30" in (await sandbox.exec(PROCESSES)).stdout:  # noqa: ASYNC110
            await anyio.sleep(0.1)


async def test_file_operations_and_confinement(sandbox: DockerSandbox, tmp_path: Path) -> None:
    await sandbox.write_file("d/f.bin", b"\x00data")
    assert (tmp_path / "d/f.bin").read_bytes() == b"\x00data"
    assert await sandbox.read_file("d/f.bin") == b"\x00data"
    entry = await sandbox.stat("d/f.bin")
    assert entry is not None
    assert (entry.path, entry.kind, entry.size) == ("d/f.bin", "file", 5)
    assert [e.path for e in await sandbox.list_dir("d")] == ["d/f.bin"]
    assert await sandbox.stat("missing") is None
    await sandbox.exec("ln -s /etc leak")
    for bad in ("leak/passwd", "../outside", "/etc/passwd"):
        with pytest.raises(WorkspacePathError):
            await sandbox.read_file(bad)
    with pytest.raises(WorkspacePathError):
        await sandbox.write_file("leak/evil", b"x")
    with pytest.raises(SandboxFileError) as info:
        await sandbox.read_file("d")
    assert info.value.reason == "is_directory"
    await sandbox.delete_file("d/f.bin")
    assert not (tmp_path / "d/f.bin").exists()
    with pytest.raises(SandboxFileError) as info:
        await sandbox.delete_file("d/f.bin")
    assert info.value.reason == "not_found"


async def test_input_the_command_does_not_read_is_not_an_error(
    sandbox: DockerSandbox, tmp_path: Path
) -> None:
    # More than the socket buffers hold: the exec ends before taking it all, as the runner's do.
    big = b"x" * (8 * 1024 * 1024)
    result = await sandbox.exec(["true"], stdin=big)
    assert result.exit_code == 0
    (tmp_path / "out").symlink_to("/etc")
    with pytest.raises(WorkspacePathError):
        await sandbox.write_file("out/big", big)
    assert (await sandbox.exec("echo still here")).stdout == b"still here\n"


async def test_a_copied_workspace_belongs_to_the_sandbox_user(
    bare_image: str, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    async with DockerSandbox(bare_image, workspace=tmp_path, mount="copy", user="2000:2000") as sb:
        owner = await sb.exec(["stat", "-c", "%u:%g", "a.txt"])
        assert owner.stdout.strip() == b"2000:2000"
        assert (await sb.exec("echo b >> a.txt")).ok
    assert (tmp_path / "a.txt").read_text() == "a\n"


async def test_output_is_handed_over_at_the_end_and_processes_are_refused(
    sandbox: DockerSandbox,
) -> None:
    # One docker exec per call: no runner to stream output or keep a process open.
    seen: list[bytes] = []
    result = await sandbox.exec("echo hi", on_output=lambda stream, data: seen.append(data))
    assert result.stdout == b"hi\n"
    assert seen == []
    assert not sandbox.streams_output
    with pytest.raises(SandboxError, match="cannot keep a process open"):
        await sandbox.open_process(["cat"])
