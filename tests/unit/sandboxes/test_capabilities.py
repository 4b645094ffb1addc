"""Capabilities: what a sandbox can do beyond commands and files, asked without probing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from sandloop.errors import ConfigError
from sandloop.sandboxes import Capabilities, LocalSandbox, RunnerSandbox, Sandbox
from sandloop.sandboxes.base import ExecResult, FileEntry
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.local import LocalProvisioner


async def test_a_local_sandbox_has_none_of_them(workspace: Path) -> None:
    sandbox = LocalSandbox(workspace)
    assert sandbox.capabilities == Capabilities()
    async with sandbox:
        assert sandbox.capabilities == Capabilities()
        assert await sandbox.restore_on_host({"a.txt": (b"x", None)}) is False
        for call in (sandbox.diff(), sandbox.diff_bytes(), sandbox.set_baseline()):
            with pytest.raises(ConfigError, match="mount='copy'"):
                await call
        with pytest.raises(ConfigError, match="mount='copy'"):
            await sandbox.export(workspace / "out")
        assert await sandbox.changes() is None
    assert not (workspace / "a.txt").exists()


def test_docker_capabilities_follow_the_mount(tmp_path: Path) -> None:
    bind = DockerSandbox("img", workspace=tmp_path).capabilities
    assert (bind.bind_mount, bind.host_restore, bind.copy_mode) == (True, True, False)
    copy = DockerSandbox("img", workspace=tmp_path, mount="copy").capabilities
    assert (copy.bind_mount, copy.host_restore, copy.copy_mode) == (False, False, True)
    alone = DockerSandbox("img").capabilities
    assert (alone.bind_mount, alone.host_restore, alone.copy_mode) == (False, False, False)
    for caps in (bind, copy, alone):
        assert caps.exec_fallback
        assert caps.run_as_user
        assert not caps.desktop  # known once started, from the runner's hello
        assert not caps.fast_channel


def test_capabilities_are_frozen() -> None:
    caps = Capabilities(copy_mode=True)
    with pytest.raises(AttributeError):
        caps.copy_mode = False  # type: ignore[misc]


def test_copy_mode_needs_a_provisioner_that_can_copy(tmp_path: Path) -> None:
    provisioner = LocalProvisioner(tmp_path, python="python3", env={})
    with pytest.raises(ConfigError, match="cannot copy a workspace in"):
        RunnerSandbox(provisioner, copy_from=tmp_path)


class _Minimal(Sandbox):
    """A third-party sandbox with only the abstract methods."""

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def exec(self, command: str | Sequence[str], **kwargs: object) -> ExecResult:
        return ExecResult(0, b"", b"")

    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        return b""

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        pass

    async def delete_file(self, path: str) -> None:
        pass

    async def stat(self, path: str) -> FileEntry | None:
        return None

    async def list_dir(self, path: str = ".") -> list[FileEntry]:
        return []


async def test_a_sandbox_of_ones_own_has_none_and_says_so_when_asked() -> None:
    sandbox = _Minimal()
    assert sandbox.capabilities == Capabilities()
    with pytest.raises(ConfigError, match="_Minimal has no copy mode"):
        await sandbox.diff_bytes()
