"""The runner booted over the attach channel: read-only images, hostile pythons, no leftovers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.errors import SandboxStartError
from sandloop.sandboxes import RunnerSandbox
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.docker._provisioner import DockerProvisioner

pytestmark = pytest.mark.docker

LABEL = {"org.sandloop.test": "boot"}


@pytest.fixture(autouse=True)
def no_container_left(docker_client: Any) -> Iterator[None]:
    """After each test, none of the containers it made is left (running or stopped)."""
    yield
    mine = ["org.sandloop.test=boot", f"org.sandloop.host-pid={os.getpid()}"]
    left = docker_client.containers.list(all=True, filters={"label": mine})
    assert left == [], f"containers left behind: {[c.short_id for c in left]}"


async def test_a_read_only_root_filesystem_still_boots_the_runner(
    base_image: str, runtime: str | None
) -> None:
    # Nothing is copied in and the bootstrap writes nothing: no writable directory is needed.
    provisioner = DockerProvisioner(base_image, read_only=True, labels=LABEL, runtime=runtime)
    async with RunnerSandbox(provisioner) as sandbox:
        assert (await sandbox.exec("echo booted")).stdout == b"booted\n"
        tried = await sandbox.exec("touch /tmp/x /workspace/x")
        assert tried.exit_code != 0
        assert b"Read-only file system" in tried.stderr
        assert (await sandbox.exec("ls -A /tmp")).stdout == b""


async def test_the_runner_leaves_no_file_in_the_container(base_image: str) -> None:
    async with DockerSandbox(base_image, labels=LABEL) as sandbox:
        found = await sandbox.exec(
            "find / -xdev \\( -name '*sandloop*runner*' -o -name 'runner.zip' \\) -print"
        )
        assert found.stdout == b""
        assert (await sandbox.exec("ls -A /tmp")).stdout == b""


async def test_a_hostile_python3_that_answers_garbage_fails_the_start(
    base_image: str, tmp_path: Path, runtime: str | None
) -> None:
    # The image's python3 is not the runner: it answers the boot frame with garbage.
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nprintf 'HTTP/1.1 200 OK\\r\\n\\r\\n'; exec cat /dev/zero\n")
    fake.chmod(0o755)
    sandbox = DockerSandbox(
        base_image,
        workspace=tmp_path,
        env={"PATH": "/workspace:/usr/bin:/bin"},
        labels=LABEL,
        runtime=runtime,
        start_timeout=20,
    )
    with anyio.fail_after(60), pytest.raises(SandboxStartError, match="bad frame"):
        await sandbox.start()
    assert not sandbox.started
    assert sandbox.container_id is not None  # it was made, and removed (the fixture checks)
