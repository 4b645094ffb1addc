"""Booting the runner over its own channel: the bootstrap, and sandboxes whose boot goes wrong."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from sandloop.errors import SandboxStartError
from sandloop.sandboxes import LocalSandbox, RunnerSandbox
from sandloop.sandboxes._boot import MAGIC, MAX_BOOT, boot, boot_frame
from sandloop.sandboxes.local import LocalProvisioner
from sandloop.sandboxes.provisioner import Boot, Capabilities, Channel, Provisioner

BOOT = boot("/tmp")


def _bootstrap(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        BOOT.argv(sys.executable), input=stdin, capture_output=True, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("stream", "said"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", b"did not send the runner"),
        (MAGIC + struct.pack(">I", 1000) + b"PK", b"ended during the boot"),
        (MAGIC + struct.pack(">I", MAX_BOOT + 1), b"too large"),
        (MAGIC[:5], b"ended during the boot"),
        (b"", b"ended during the boot"),
    ],
    ids=["garbage", "truncated_zip", "oversized", "truncated_magic", "empty"],
)
def test_a_bad_boot_stream_ends_the_bootstrap_with_a_reason(stream: bytes, said: bytes) -> None:
    proc = _bootstrap(stream)
    assert proc.returncode == 1
    assert said in proc.stderr
    assert proc.stdout == b""  # nothing that could pass for a hello


def test_the_boot_frame_is_the_runner_zip_behind_magic_and_size() -> None:
    frame = boot_frame()
    assert frame.startswith(MAGIC)
    (size,) = struct.unpack(">I", frame[len(MAGIC) : len(MAGIC) + 4])
    assert size == len(frame) - len(MAGIC) - 4 < MAX_BOOT
    assert frame[len(MAGIC) + 4 :].startswith(b"PK")


async def test_the_boot_writes_nothing_to_disk(tmp_path: Path) -> None:
    # The runner is imported from memory: no temporary file to clean up, and none a command
    # could replace.
    tmp = tmp_path / "tmp"
    ws = tmp_path / "ws"
    tmp.mkdir()
    ws.mkdir()
    async with LocalSandbox(ws, env={"TMPDIR": str(tmp)}) as sandbox:
        assert (await sandbox.exec("echo ok")).stdout == b"ok\n"
        assert (await sandbox.exec('printf %s "$TMPDIR"')).stdout == str(tmp).encode()
    assert list(tmp.iterdir()) == []
    assert list(ws.iterdir()) == []


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


async def test_a_python_that_answers_garbage_fails_the_start_cleanly(tmp_path: Path) -> None:
    # Not the runner: it reads the boot frame, then answers with something that is no hello.
    hostile = _script(
        tmp_path / "python3",
        "cat >/dev/null &\nprintf '\\000\\000\\000\\020not a json hello'\nexec sleep 600\n",
    )
    sandbox = LocalSandbox(tmp_path, python=hostile, start_timeout=10)
    with anyio.fail_after(30), pytest.raises(SandboxStartError, match="bad frame"):
        await sandbox.start()
    assert not sandbox.started
    assert isinstance(sandbox.provisioner, LocalProvisioner)
    assert sandbox.provisioner.pid is None  # the process was ended and reaped


async def test_a_python_that_floods_an_endless_frame_is_cut_off(tmp_path: Path) -> None:
    hostile = _script(tmp_path / "python3", "printf '\\177\\377\\377\\377'; exec cat /dev/zero\n")
    sandbox = LocalSandbox(tmp_path, python=hostile, start_timeout=10)
    with anyio.fail_after(30), pytest.raises(SandboxStartError):
        await sandbox.start()
    assert not sandbox.started


async def test_a_python_that_exits_says_why(tmp_path: Path) -> None:
    broken = _script(tmp_path / "python3", "echo 'python3: broken install' >&2; exit 7\n")
    with anyio.fail_after(30), pytest.raises(SandboxStartError, match="python3: broken install"):
        await LocalSandbox(tmp_path, python=broken, start_timeout=10).start()


class ShellProvisioner(Provisioner):
    """A backend written from the provisioner docstring: the shell-wrapped boot, locally."""

    def __init__(self, root: Path, path: str) -> None:
        self.workdir = str(root)
        self.path = path
        self.process: anyio.abc.Process | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    async def start(self, boot: Boot) -> Channel:
        from anyio.streams.stapled import StapledByteStream

        self.process = await anyio.open_process(
            boot.shell_argv(), env={"PATH": self.path}, cwd=self.workdir, start_new_session=True
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        return StapledByteStream(self.process.stdin, self.process.stdout)

    async def aclose(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            await process.aclose()


async def test_a_provisioner_of_ones_own_runs_the_shared_core(tmp_path: Path) -> None:
    python_dir = tmp_path / "bin"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    provisioner = ShellProvisioner(tmp_path, f"{python_dir}:/usr/bin:/bin")
    async with RunnerSandbox(provisioner) as sandbox:
        await sandbox.write_file("a.txt", b"hi\n")
        assert (await sandbox.exec("cat a.txt")).stdout == b"hi\n"
        assert sandbox.capabilities == Capabilities()
    assert provisioner.process is None


async def test_without_python3_and_without_a_fallback_the_start_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    # `command -v python3` finds nothing there: the shell prints the marker instead.
    provisioner = ShellProvisioner(tmp_path, str(empty))
    sandbox = RunnerSandbox(provisioner, start_timeout=10)
    with anyio.fail_after(30), pytest.raises(SandboxStartError, match="no python3"):
        await sandbox.start()
    assert provisioner.process is None
