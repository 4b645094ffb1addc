"""MCPServer's options, names and ``${NAME}`` references, without starting any server; and
sandloop without the mcp SDK installed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from sandloop import Agent, MCPServer
from sandloop.errors import ConfigError
from sandloop.executors.mcp._names import default_name, tool_name
from sandloop.executors.mcp._refs import expand

WITHOUT_MCP = "import sys; sys.modules['mcp'] = None; sys.modules['mcp_types'] = None\n"


def test_sandloop_imports_and_builds_agents_without_the_mcp_sdk() -> None:
    script = WITHOUT_MCP + (
        "import anyio, sandloop\n"
        "server = sandloop.MCPServer.stdio('srv', name='s')\n"
        "agent = sandloop.Agent(model='m', tools=[server])\n"
        "print(agent.to_dict()['tools'][0]['tool'])\n"
        "async def main():\n"
        "    try:\n"
        "        async with server.connect(None):\n"
        "            pass\n"
        "    except sandloop.ConfigError as exc:\n"
        "        print(exc)\n"
        "anyio.run(main)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "mcp",
        "MCP server 's' needs the mcp SDK: pip install 'sandloop[mcp]'",
    ]


def test_importing_sandloop_does_not_import_the_sdk() -> None:
    script = "import sys, sandloop; sandloop.MCPServer; print('mcp' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize(
    ("server", "tool", "expected"),
    [
        ("github", "search_issues", "github__search_issues"),
        ("fs", "read.file/v2", "fs__read_file_v2"),
        ("fs", "ünïcode tool", "fs__n_code_tool"),
    ],
)
def test_tool_names_use_the_api_charset(server: str, tool: str, expected: str) -> None:
    assert tool_name(server, tool) == expected


def test_long_tool_names_are_cut_and_stay_distinct() -> None:
    a, b = tool_name("server", "x" * 80 + "a"), tool_name("server", "x" * 80 + "b")
    assert len(a) == len(b) == 64
    assert a != b
    assert a.startswith("server__xxx")


@pytest.mark.parametrize(
    ("command", "args", "url", "expected"),
    [
        ("/usr/bin/mcp-server-fetch", [], None, "mcp-server-fetch"),
        ("npx", ["-y", "@modelcontextprotocol/server-github"], None, "server-github"),
        ("python3", ["tools/server.py", "--port", "1"], None, "server"),
        ("uvx", ["mcp-server-git@1.2", "--repository", "/w"], None, "mcp-server-git"),
        (None, [], "https://mcp.example.com/mcp", "mcp_example_com"),
    ],
)
def test_default_names(
    command: str | None, args: list[str], url: str | None, expected: str
) -> None:
    assert default_name(command, args, url) == expected


def test_a_given_name_is_cleaned() -> None:
    assert MCPServer.stdio("srv", name="my server.v2").name == "my_server_v2"


def test_references_are_expanded_from_the_environment() -> None:
    env = {"TOKEN": "abc", "HOST": "h"}
    assert expand("Bearer ${TOKEN} @ ${HOST}", what="x", environ=env) == "Bearer abc @ h"
    assert expand("no $REF here", what="x", environ=env) == "no $REF here"
    with pytest.raises(ConfigError, match=r"header 'A' refers to \$\{MISSING\}, but MISSING"):
        expand("${MISSING}", what="header 'A'", environ=env)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MCPServer(transport="stdio"),
        lambda: MCPServer(transport="http", url="ftp://x"),
        lambda: MCPServer(transport="carrier-pigeon", command="x"),  # type: ignore[arg-type]
        lambda: MCPServer.stdio("x", timeout=0),
        lambda: MCPServer.stdio("x", startup_timeout=float("inf")),
        lambda: MCPServer.http("https://x/mcp", timeout=float("nan")),
    ],
)
def test_bad_options_are_config_errors(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigError):
        make()


def test_an_in_sandbox_server_needs_a_sandbox_before_the_run_starts() -> None:
    from sandloop.client import ResponsesClient
    from sandloop.loop import AgentLoop

    agent = Agent(model="m", tools=[MCPServer.stdio("srv", in_sandbox=True)])
    with pytest.raises(ConfigError, match=r"MCP server 'srv'.* act in a sandbox"):
        AgentLoop(agent, "go", client=ResponsesClient(base_url="http://127.0.0.1:9", api_key="k"))
