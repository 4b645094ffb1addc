"""A stdio MCP server inside a Docker sandbox: started through the runner, its stdio over the
runner's channel. The server is the plain-Python one (the sandbox image has python3, not the
mcp SDK), copied into the bind-mounted workspace; the run owns the sandbox and closes the
server before removing it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp_support import STDLIB, outputs, serve

import sandloop
from sandloop import Agent, MCPServer
from sandloop.testing import function_call, message


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copy(STDLIB, root / "mcp_server.py")
    (root / "notes.txt").write_text("only in the workspace\n")
    return root


@pytest.mark.docker
async def test_an_in_sandbox_server_runs_in_the_container(
    workspace: Path, base_image: str, docker_client: Any
) -> None:
    server = MCPServer.stdio("python3", ["/workspace/mcp_server.py"], in_sandbox=True, name="box")
    sandbox = sandloop.DockerSandbox(base_image, workspace=workspace)
    turns = [
        [
            function_call("box__where", {}, call_id="c_where"),
            function_call("box__echo", {"text": "hi"}, call_id="c_echo"),
        ],
        [function_call("box__exit", {}, call_id="c_exit")],
        [function_call("box__echo", {"text": "again"}, call_id="c_after")],
        [message("done", phase="final_answer")],
    ]
    async with serve(turns) as (scripted, client):
        result = await sandloop.run(
            Agent(model="gpt-test", tools=[server]), "go", sandbox=sandbox, client=client
        )
    assert result.final_output == "done"
    first = outputs(scripted.create_requests[1])
    assert first == {"c_where": "/workspace: mcp_server.py,notes.txt", "c_echo": "hi"}
    crashed = outputs(scripted.create_requests[2])["c_exit"]
    assert "box__exit failed" in crashed
    assert "exited with code 7" in crashed
    assert "exit: stopping on purpose" in crashed
    assert "is not running" in outputs(scripted.create_requests[3])["c_after"]
    assert not sandbox.started  # the run removed it, after closing the server


@pytest.mark.docker
async def test_an_in_sandbox_server_is_stopped_when_the_run_ends(
    workspace: Path, base_image: str
) -> None:
    @sandloop.tool
    async def count_servers(ctx: sandloop.ToolContext) -> int:
        """How many MCP server processes run in the sandbox."""
        assert isinstance(ctx.sandbox, sandloop.DockerSandbox)
        return await servers_running(ctx.sandbox)

    server = MCPServer.stdio("python3", ["mcp_server.py"], in_sandbox=True, name="box")
    turns = [
        [
            function_call("box__echo", {"text": "x"}, call_id="c1"),
            function_call("count_servers", {}, call_id="c2"),
        ],
        [message("done", phase="final_answer")],
    ]
    agent = Agent(model="gpt-test", tools=[server, count_servers])
    async with sandloop.DockerSandbox(base_image, workspace=workspace) as sandbox:
        async with serve(turns) as (scripted, client):
            await sandloop.run(agent, "go", sandbox=sandbox, client=client)
        assert outputs(scripted.create_requests[1]) == {"c1": "x", "c2": "1"}
        # A borrowed sandbox stays up; the server in it is gone.
        assert await servers_running(sandbox) == 0


SCAN = (
    "import os\n"
    "found = 0\n"
    "for pid in set(filter(str.isdigit, os.listdir('/proc'))) - {str(os.getpid())}:\n"
    "    try:\n"
    "        found += open(f'/proc/{pid}/cmdline', 'rb').read().endswith(b'mcp_server.py\\0')\n"
    "    except OSError:\n"
    "        pass\n"
    "print(found)\n"
)


async def servers_running(sandbox: sandloop.DockerSandbox) -> int:
    done = await sandbox.exec(["python3", "-c", SCAN])
    return int(done.stdout)


async def test_an_in_sandbox_server_in_a_local_sandbox(workspace: Path) -> None:
    server = MCPServer.stdio("python3", ["mcp_server.py"], in_sandbox=True, name="box")
    turns = [
        [function_call("box__where", {}, call_id="c1")],
        [message("done", phase="final_answer")],
    ]
    async with serve(turns) as (scripted, client):
        await sandloop.run(
            Agent(model="gpt-test", tools=[server]),
            "go",
            sandbox=sandloop.LocalSandbox(workspace),
            client=client,
        )
    assert outputs(scripted.create_requests[1]) == {"c1": f"{workspace}: mcp_server.py,notes.txt"}
