"""RunSpecs with MCP servers: described as data with ``${NAME}`` references (never the
secret), rebuilt and run in another process whose environment holds the secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp_support import PYTHON, SDK_STDIO, http_server, outputs

import sandloop
from sandloop import Agent, ClientSettings, MCPServer, RunSpec
from sandloop.errors import ConfigError
from sandloop.testing import ScriptedResponsesServer, function_call, message

SRC = Path(sandloop.__file__).parents[1]
CHILD = (
    "import json, sys\n"
    "from sandloop import RunSpec\n"
    "spec = RunSpec.from_dict(json.load(open(sys.argv[1])))\n"
    "result = spec.run_sync()\n"
    "print(result.final_output)\n"
)


def test_a_spec_with_mcp_servers_runs_in_another_process_with_its_secret(tmp_path: Path) -> None:
    with http_server() as url:
        servers = [
            MCPServer.http(
                url, headers={"Authorization": "Bearer ${SANDLOOP_SPEC_TOKEN}"}, name="remote"
            ),
            MCPServer.stdio(
                PYTHON,
                [SDK_STDIO],
                name="calc",
                env={"API_TOKEN": "${SANDLOOP_SPEC_TOKEN}"},
                timeout=30,
                defer_loading=False,
            ),
        ]
        turns = [
            [
                function_call("remote__whoami", {}, call_id="c_who"),
                function_call("calc__env_value", {"name": "API_TOKEN"}, call_id="c_env"),
            ],
            [message("done", phase="final_answer")],
        ]
        with ScriptedResponsesServer(turns) as scripted:
            spec = RunSpec(
                Agent(model="gpt-test", tools=servers),
                "go",
                client=ClientSettings(base_url=scripted.base_url),
            )
            text = json.dumps(spec.to_dict())
            assert "${SANDLOOP_SPEC_TOKEN}" in text
            rebuilt = RunSpec.from_dict(json.loads(text))
            assert [s.options() for s in rebuilt.agent.tools] == [s.options() for s in servers]
            spec_file = tmp_path / "spec.json"
            spec_file.write_text(text)
            env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
            env.update(PYTHONPATH=str(SRC), OPENAI_API_KEY="sk-test", SANDLOOP_SPEC_TOKEN="t0k")
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(spec_file)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            assert done.stdout.strip() == "done"
            got = outputs(scripted.create_requests[1])
    assert got == {"c_who": "Bearer t0k", "c_env": "t0k"}
    assert "t0k" not in text


@pytest.mark.parametrize(
    "server",
    [
        MCPServer.http("https://mcp.example/mcp", headers={"Authorization": "Bearer abc"}),
        MCPServer.http("https://mcp.example/mcp", headers={"X-Api-Key": "abc"}),
        MCPServer.stdio("srv", env={"GITHUB_TOKEN": "ghp_abc"}),
    ],
)
def test_a_literal_credential_is_refused_when_described(server: MCPServer) -> None:
    with pytest.raises(ConfigError, match="looks like a credential written out literally"):
        RunSpec(Agent(model="gpt-test", tools=[server]), "go").to_dict()


def test_a_described_server_keeps_every_option() -> None:
    server = MCPServer.stdio(
        "uvx",
        ["mcp-server-git", "--repository", "/workspace"],
        env={"LOG_LEVEL": "debug"},
        cwd="/workspace",
        in_sandbox=True,
        timeout=12.5,
        startup_timeout=90,
        defer_loading=True,
        needs_approval=True,
        max_message_bytes=2048,
    )
    assert server.name == "mcp-server-git"
    data = Agent(model="gpt-test", tools=[server]).to_dict()["tools"][0]
    assert data["tool"] == "mcp"
    again = Agent.from_dict({"model": "gpt-test", "tools": [data]}).tools[0]
    assert isinstance(again, MCPServer)
    assert again.options() == server.options()


def test_an_unknown_option_in_a_description_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tool 'mcp': bad options"):
        Agent.from_dict(
            {"model": "m", "tools": [{"tool": "mcp", "options": {"transport": "stdio", "x": 1}}]}
        )
