"""DockerSandbox lifecycle on a real engine: bombs contained, deaths reported, nothing left over."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.cli import main as cli_main
from sandloop.errors import SandboxError
from sandloop.sandboxes.docker import LABEL, DockerSandbox, owner_labels

pytestmark = pytest.mark.docker


def _containers(docker_client: Any, tag: str) -> list[Any]:
    found: list[Any] = docker_client.containers.list(all=True, filters={"label": f"test-run={tag}"})
    return found


async def test_fork_bomb_is_contained_and_the_sandbox_survives(base_image: str) -> None:
    async with DockerSandbox(base_image, pids=128) as sb:
        for bomb in ("bomb() { bomb | bomb & }; bomb", "bomb() { bomb | bomb; }; bomb"):
            await sb.exec(bomb, timeout=5)  # returns, whatever the bomb's own status
            with anyio.fail_after(30):
                while True:  # the bomb's last forks may take a moment to be reaped
                    after = await sb.exec(["ps", "-eo", "args="])
                    left = [a for a in after.stdout.splitlines() if a.startswith(b"bash -c bomb")]
                    if after.ok and not left:
                        break
                    await anyio.sleep(0.2)
            assert (await sb.exec("echo alive")).stdout == b"alive\n"


async def test_memory_bomb_is_killed_and_reported(base_image: str) -> None:
    async with DockerSandbox(base_image, memory="256m") as sb:
        bomb = await sb.exec(
            ["python3", "-c", "a = []\nwhile True: a.append(bytearray(10**7))"], timeout=60
        )
        assert bomb.exit_code == 137  # SIGKILL from the OOM killer
        assert not bomb.timed_out
        assert (await sb.exec("echo alive")).stdout == b"alive\n"


async def test_container_killed_mid_command_fails_fast(base_image: str, docker_client: Any) -> None:
    async with DockerSandbox(base_image) as sb:

        async def kill_soon() -> None:
            await anyio.sleep(0.5)
            await anyio.to_thread.run_sync(docker_client.containers.get(sb.container_id).kill)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(kill_soon)
                with pytest.raises(SandboxError):
                    await sb.exec("sleep 300")
        with pytest.raises(SandboxError):
            await sb.exec("true")


async def test_no_container_left_after_an_error(base_image: str, docker_client: Any) -> None:
    tag = uuid.uuid4().hex
    seen: list[Any] = []

    async def run() -> None:
        async with DockerSandbox(base_image, labels={"test-run": tag}) as sb:
            seen.extend(_containers(docker_client, tag))
            await sb.exec("true")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run()
    assert len(seen) == 1
    assert _containers(docker_client, tag) == []


async def test_no_container_left_after_cancellation(base_image: str, docker_client: Any) -> None:
    tag = uuid.uuid4().hex
    with anyio.move_on_after(2) as scope:
        async with DockerSandbox(base_image, labels={"test-run": tag}) as sb:
            await sb.exec("sleep 300")
    assert scope.cancelled_caught
    assert _containers(docker_client, tag) == []


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3])
async def test_cancelled_while_starting_leaves_nothing(
    base_image: str, docker_client: Any, delay: float
) -> None:
    tag = uuid.uuid4().hex
    with anyio.move_on_after(delay):
        async with DockerSandbox(base_image, labels={"test-run": tag}) as sb:
            await sb.exec("true")
    assert _containers(docker_client, tag) == []


async def test_a_missing_image_of_ours_names_the_build_command(docker_client: Any) -> None:
    # sandloop/base at another version than this package's: we can build the current one.
    with pytest.raises(SandboxError, match=r"this sandloop builds sandloop/base:") as other:
        async with DockerSandbox("sandloop/base:0.0.0-missing"):
            pass
    assert "`sandloop images build base`" in str(other.value)
    with pytest.raises(SandboxError, match=r"sandloop/nope:1 not found") as info:
        async with DockerSandbox("sandloop/nope:1"):
            pass
    # Not one we can build: say which ones are ours, and how to bring your own.
    assert "sandloop images build`" in str(info.value)
    assert "sandloop/base:" in str(info.value)
    assert "docker build -t NAME ." in str(info.value)
    assert "build it with" not in str(info.value)


def test_prune_removes_leftovers_of_dead_processes(
    base_image: str, docker_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A container whose creator died (a crashed run) is listed as gone and pruned."""
    leftover = docker_client.containers.create(
        base_image,
        command=["true"],
        labels={LABEL: "test", **owner_labels(), "org.sandloop.host-pid": "999999999"},
    )
    try:
        assert cli_main(["sandboxes", "ls"]) == 0
        assert leftover.short_id in capsys.readouterr().out
        assert cli_main(["sandboxes", "prune"]) == 0
        assert f"removed {leftover.short_id}" in capsys.readouterr().out
        assert not docker_client.containers.list(all=True, filters={"id": leftover.id})
    finally:
        if docker_client.containers.list(all=True, filters={"id": leftover.id}):
            leftover.remove(force=True)


def test_workspace_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SandboxError.__mro__[1]):  # ConfigError is a SandloopError
        DockerSandbox(workspace=tmp_path / "missing")
