"""The host process running an agent is SIGKILLed mid-command.

Nothing in the dying process can clean up. What must hold anyway: the runner notices its
channel closed and exits (so the model's commands stop), the container stops, and the engine
removes it (DockerSandbox creates containers with auto-remove). The test removes only the
container its own child made, and only when it failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from faults_support import TEST_LABEL, require_image

pytestmark = pytest.mark.docker

CHILD = textwrap.dedent(
    """
    import sys
    import anyio
    from sandloop.client import ResponsesClient
    from sandloop.executors.shell import ShellTool
    from sandloop.loop import Agent, ToolCallStarted, run
    from sandloop.sandboxes.docker import DockerSandbox
    from sandloop.testing import ScriptedResponsesServer, shell_call

    image, workspace, label = sys.argv[1], sys.argv[2], sys.argv[3]

    async def main():
        with ScriptedResponsesServer([[shell_call("sleep 300")]]) as server:
            async with DockerSandbox(image, workspace=workspace, labels={label: "faults"}) as sb:
                async def on_event(event):
                    if isinstance(event, ToolCallStarted):
                        print(sb.container_id, flush=True)
                async with ResponsesClient(base_url=server.base_url) as client:
                    agent = Agent(model="gpt-test", tools=[ShellTool()])
                    await run(agent, "Wait.", sandbox=sb, client=client, on_event=on_event)

    anyio.run(main)
    """
)


def test_a_killed_host_process_leaves_no_container_behind(
    docker_client: Any, tmp_path: Path
) -> None:
    image = require_image(docker_client)
    (label,) = TEST_LABEL
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, image, str(workspace), label],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            container_id = child.stdout.readline().strip()
            assert container_id, child.communicate(timeout=30)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == -signal.SIGKILL
    owned = {"label": f"org.sandloop.host-pid={child.pid}"}
    try:
        # The runner sees its channel close and exits, killing the model's commands; the
        # container stops and the engine removes it (auto-remove): nothing is left behind.
        assert _wait_gone(docker_client, container_id), "the orphaned container is still there"
    finally:
        for leftover in docker_client.containers.list(all=True, filters=owned):
            with contextlib.suppress(docker.errors.APIError):  # maybe being auto-removed
                leftover.remove(force=True)
    assert docker_client.containers.list(all=True, filters=owned) == []


def _wait_gone(docker_client: Any, container_id: str) -> bool:
    for _ in range(300):
        try:
            docker_client.containers.get(container_id)
        except docker.errors.NotFound:
            return True
        time.sleep(0.1)
    return False
