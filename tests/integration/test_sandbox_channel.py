"""The fast channel: a Unix socket past dockerd on a local engine, or attach when it cannot be."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.errors import SandboxDiedError
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.docker import _socket_channel as socket_channel
from sandloop.sandboxes.docker._provisioner import DockerProvisioner

pytestmark = pytest.mark.docker

LABEL = {"org.sandloop.test": "channel"}


@pytest.fixture(autouse=True)
def no_container_left(docker_client: Any) -> Iterator[None]:
    yield
    mine = ["org.sandloop.test=channel", f"org.sandloop.host-pid={os.getpid()}"]
    left = docker_client.containers.list(all=True, filters={"label": mine})
    assert left == [], f"containers left behind: {[c.short_id for c in left]}"


def _offer_dir(sandbox: DockerSandbox) -> Path | None:
    provisioner = sandbox.provisioner
    assert isinstance(provisioner, DockerProvisioner)
    offer = provisioner._offer
    return offer.host_dir if offer is not None else None


async def test_a_local_engine_gets_the_socket_channel(base_image: str, tmp_path: Path) -> None:
    async with DockerSandbox(base_image, workspace=tmp_path, labels=LABEL) as sandbox:
        assert sandbox.capabilities.fast_channel
        assert (await sandbox.exec("echo fast")).stdout == b"fast\n"
        await sandbox.write_file("f.txt", b"x")
        assert (tmp_path / "f.txt").read_bytes() == b"x"
        # Inside: the socket is gone once the runner connected, and nothing can be added.
        probe = await sandbox.exec(
            "test -e /run/sandloop-channel/runner.sock && echo SOCKET; "
            "touch /run/sandloop-channel/x 2>&1; ln -s /etc /run/sandloop-channel/l 2>&1; true"
        )
        assert b"SOCKET" not in probe.stdout
        assert probe.stdout.count(b"Read-only file system") == 2
        host_dir = _offer_dir(sandbox)
        assert host_dir is not None
        assert list(host_dir.iterdir()) == []
        assert not host_dir.is_relative_to(tmp_path)
        assert host_dir.stat().st_mode & 0o777 == 0o711
        assert host_dir.parent.stat().st_mode & 0o777 == 0o700
    assert not host_dir.parent.exists()  # removed with the container


async def test_the_runner_dies_with_its_boot_channel_on_the_socket_too(base_image: str) -> None:
    sandbox = DockerSandbox(base_image, labels=LABEL)
    async with sandbox:
        assert sandbox.capabilities.fast_channel
        pid = sandbox._runner().hello["pid"]
        assert sandbox._control is not None
        assert sandbox._control.hello["pid"] == pid  # one runner, two channels
        assert (await sandbox.exec(["sleep", "0"])).ok


async def test_a_runtime_whose_mounts_pass_no_socket_falls_back_to_attach(
    base_image: str, gvisor: str
) -> None:
    async with DockerSandbox(base_image, runtime=gvisor, labels=LABEL) as sandbox:
        assert not sandbox.capabilities.fast_channel
        assert (await sandbox.exec("echo attach")).stdout == b"attach\n"


async def test_a_connect_that_fails_falls_back_to_attach(
    base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runner is asked to connect where no socket is: the sandbox stays on attach.
    monkeypatch.setattr(socket_channel, "CONTAINER_DIR", "/nonexistent")
    async with DockerSandbox(base_image, labels=LABEL) as sandbox:
        assert not sandbox.capabilities.fast_channel
        assert (await sandbox.exec("echo attach")).stdout == b"attach\n"
        offer_dir = _offer_dir(sandbox)
        assert offer_dir is not None
        assert list(offer_dir.iterdir()) == []  # no longer listening either


async def test_the_socket_channel_can_be_turned_off(base_image: str) -> None:
    sandbox = DockerSandbox(base_image, labels=LABEL)
    provisioner = sandbox.provisioner
    assert isinstance(provisioner, DockerProvisioner)
    provisioner.try_fast_channel = False
    async with sandbox:
        assert not sandbox.capabilities.fast_channel
        assert _offer_dir(sandbox) is None
        assert (await sandbox.exec("echo attach")).stdout == b"attach\n"


async def test_after_the_switch_the_runner_stderr_still_explains_a_death(base_image: str) -> None:
    # The attach stream is drained once the runner talks over the socket: what the runner
    # writes to its stderr then still reaches the error of a dead sandbox.
    async with DockerSandbox(base_image, labels=LABEL) as sandbox:
        assert sandbox.capabilities.fast_channel
        said = await sandbox.exec("echo 'sandloop-runner: late words' > /proc/$PPID/fd/2")
        assert said.ok, said.stderr_text()
        with anyio.fail_after(10):
            while "late words" not in sandbox.provisioner.diagnose():  # noqa: ASYNC110
                await anyio.sleep(0.02)
        with pytest.raises(SandboxDiedError) as died:
            await sandbox.exec("kill -KILL $PPID", timeout=5)
        assert "the runner said: sandloop-runner: late words" in str(died.value)


async def test_a_flood_into_the_containers_stdout_and_stderr_blocks_nothing(
    base_image: str,
) -> None:
    # 64 MiB into each of the streams the engine attaches (PID 1's stdout and stderr): a
    # stream nobody read would stop the writer at the pipe's 64 KiB; the drain reads on and
    # keeps only stderr's tail.
    flood = (
        "head -c 67108864 /dev/zero > /proc/1/fd/1 && head -c 67108864 /dev/zero > /proc/1/fd/2"
        " && echo flooded"
    )
    async with DockerSandbox(base_image, labels=LABEL) as sandbox:
        assert sandbox.capabilities.fast_channel
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        flooded = await sandbox.exec(flood, timeout=120)
        assert flooded.stdout == b"flooded\n", flooded.stderr_text()
        assert (await sandbox.exec("echo alive")).stdout == b"alive\n"
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert grown_kib < 32 * 1024
        assert len(sandbox.provisioner.diagnose()) < 5000
