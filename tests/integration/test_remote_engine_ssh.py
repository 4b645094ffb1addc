"""DockerSandbox on an engine reached over SSH (``docker_host="ssh://user@host:port"``), through
``sandloop.testing.ssh_engine.SSHEngine``: Debian's OpenSSH server on 127.0.0.1 with throwaway
keys, in front of this machine's engine socket. Not tested against a second machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandloop.errors import ConfigError, SandboxUnavailableError
from sandloop.sandboxes.docker import LABEL, DockerSandbox
from sandloop.sandboxes.docker._address import EngineAddress
from sandloop.testing.ssh_engine import SSHD, SSHEngine

pytestmark = pytest.mark.docker

_SOCKET = "/var/run/docker.sock"
REQUIRE_DOCKER = os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1"


@pytest.fixture
def engine(
    docker_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SSHEngine]:
    if not os.path.exists(_SOCKET):
        pytest.skip(f"the engine is not on {_SOCKET} (the SSH side forwards to that socket)")
    if not (os.path.exists(SSHD) and shutil.which("ssh")):
        reason = f"{SSHD} or ssh is missing (tools/ensure_sshd.sh installs them)"
        if REQUIRE_DOCKER:
            pytest.fail(f"SANDLOOP_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    with SSHEngine(tmp_path / "ssh") as server:
        monkeypatch.setenv("SANDLOOP_SSH_COMMAND", server.ssh_command)
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("one\n")
    return root


def _tunnels() -> list[str]:
    """The command lines of this machine's running ``ssh -N -L`` tunnels to an engine socket."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and argv[0].endswith(b"ssh")
            and b"-N" in argv
            and any(arg.endswith(b":/var/run/docker.sock") for arg in argv)
        ):
            found.append(" ".join(a.decode(errors="replace") for a in argv))
    return found


async def test_a_copy_mode_sandbox_works_over_ssh(
    engine: SSHEngine, workspace: Path, base_image: str
) -> None:
    before = _tunnels()
    sandbox = DockerSandbox(base_image, docker_host=engine.url, workspace=workspace, mount="copy")
    async with sandbox:
        assert (await sandbox.exec("cat notes.txt; echo two >> notes.txt")).stdout == b"one\n"
        await sandbox.write_file("new.txt", b"x" * 300_000)  # bigger than one forwarded packet
        assert await sandbox.read_file("new.txt") == b"x" * 300_000
        diff = await sandbox.diff()
        assert "+two" in diff
        assert "new.txt" in diff
        assert len(_tunnels()) == len(before) + 1
    assert engine.accepted() >= 1  # the engine was really reached through sshd
    assert _tunnels() == before  # closing the sandbox stopped its tunnel
    assert (workspace / "notes.txt").read_text() == "one\n"
    assert sandbox.to_dict()["docker_host"] == engine.url


async def test_docker_host_from_the_environment_may_be_ssh(
    engine: SSHEngine, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", engine.url)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")  # meaningless over SSH, as for the docker CLI
    async with DockerSandbox(base_image) as sandbox:
        assert (await sandbox.exec(["echo", "hi"])).stdout == b"hi\n"
    assert engine.accepted() >= 1


async def test_a_key_the_server_refuses_fails_with_ssh_s_message(
    engine: SSHEngine, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDLOOP_SSH_COMMAND", engine.untrusted_ssh_command())
    before = _tunnels()
    sandbox = DockerSandbox(base_image, docker_host=engine.url)
    with pytest.raises(SandboxUnavailableError, match=r"(?i)permission denied"):
        await sandbox.start()
    assert engine.accepted() == 0
    assert _tunnels() == before


async def test_an_unknown_host_key_is_refused_not_accepted(
    engine: SSHEngine, base_image: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    monkeypatch.setenv(
        "SANDLOOP_SSH_COMMAND",
        engine.ssh_command.replace(str(engine.folder / "known_hosts"), str(empty)),
    )
    with pytest.raises(SandboxUnavailableError, match=r"(?i)host key verification failed"):
        await DockerSandbox(base_image, docker_host=engine.url).start()
    assert engine.accepted() == 0


async def test_a_bind_mount_over_ssh_is_refused(
    engine: SSHEngine, workspace: Path, base_image: str, docker_client: Any
) -> None:
    before = _tunnels()
    sandbox = DockerSandbox(base_image, docker_host=engine.url, workspace=workspace)
    with pytest.raises(ConfigError, match="mount='copy'"):
        await sandbox.start()
    mine = [LABEL, f"org.sandloop.host-pid={os.getpid()}"]
    assert docker_client.containers.list(all=True, filters={"label": mine}) == []
    assert _tunnels() == before


async def test_a_server_that_forbids_forwarding_fails_fast_and_clearly(
    engine: SSHEngine, base_image: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with SSHEngine(tmp_path / "closed", forwarding=False) as closed:
        monkeypatch.setenv("SANDLOOP_SSH_COMMAND", closed.ssh_command)
        before = _tunnels()
        sandbox = DockerSandbox(base_image, docker_host=closed.url, start_timeout=60)
        with pytest.raises(SandboxUnavailableError, match="AllowStreamLocalForwarding"):
            await sandbox.start()
        assert closed.accepted() == 1
        assert _tunnels() == before


def test_the_tunnel_ends_with_a_process_killed_outright(engine: SSHEngine) -> None:
    # SIGKILL runs no clean-up of ours: the kernel's parent-death signal stops ssh.
    before = _tunnels()
    code = (
        "import sys, time; from sandloop.sandboxes.docker._ssh import SSHTunnel; "
        "SSHTunnel(sys.argv[1]).open(60); print('open', flush=True); time.sleep(600)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, engine.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "open"
        assert len(_tunnels()) == len(before) + 1
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout:
            child.stdout.close()
    deadline = time.monotonic() + 10
    while _tunnels() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _tunnels() == before


@pytest.mark.parametrize(
    "address",
    [
        "ssh://",
        "ssh://host/var/run/docker.sock",
        "ssh://user:secret@host",
        "ssh://-oProxyCommand=touch%20x",
        "ssh://-oProxyCommand@host",
        "ssh://host:notaport",
    ],
)
def test_malformed_or_hostile_ssh_addresses_are_refused_up_front(address: str) -> None:
    with pytest.raises(ConfigError):
        EngineAddress(address)
