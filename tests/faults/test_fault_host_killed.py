"""The host process running an agent is SIGKILLed mid-command.

Nothing in the dying process can clean up, so its container outlives it. What must hold: the
runner notices its channel closed and exits (so the model's commands stop and the container
stops), the container is labelled with the dead owner's pid, ``sandloop sandboxes ls`` reports
that owner as gone, and removing such leftovers (what ``sandloop sandboxes prune`` does) clears
them.
The test removes only the container its own child made.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from faults_support import TEST_LABEL, require_image

from sandloop.sandboxes import docker as engine

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


def test_a_killed_host_process_leaves_a_container_that_is_found_and_removed(
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
        # The runner sees its channel close and exits, killing the model's commands: the
        # container stops by itself. Nobody is left to remove it; it is a listed leftover.
        status = _wait_stopped(docker_client, container_id)
        assert status == "exited", status
        listed = subprocess.run(
            [sys.executable, "-m", "sandloop.cli", "sandboxes", "ls"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        line = next(r for r in listed.stdout.splitlines() if r.startswith(container_id[:12]))
        assert " gone " in line, line
        engine.remove_container(docker_client, container_id)  # what prune does for it
    finally:
        for leftover in docker_client.containers.list(all=True, filters=owned):
            leftover.remove(force=True)
    assert docker_client.containers.list(all=True, filters=owned) == []


def _wait_stopped(docker_client: Any, container_id: str) -> str:
    for _ in range(300):
        status = str(docker_client.containers.get(container_id).status)
        if status != "running":
            return status
        time.sleep(0.1)
    return "running"
