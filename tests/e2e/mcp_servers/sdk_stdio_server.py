"""A stdio MCP server written with the mcp SDK, run as a real process by the MCP tests.

Besides well-behaved tools it has ones that misbehave on purpose: one that never answers,
one that kills its own process mid-call, and one that starts a child process (to check that
closing the server leaves no process behind). ``MCP_TEST_PIDS`` names a file where the server
writes its pid (and the child's).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
server = MCPServer("sdk-stdio")


def _note_pid(pid: int) -> None:
    path = os.environ.get("MCP_TEST_PIDS")
    if path:
        with Path(path).open("a") as f:
            f.write(f"{pid}\n")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def picture(caption: str) -> CallToolResult:
    """A one-pixel picture with a caption."""
    image = Image(data=PNG, format="png").to_image_content()
    return CallToolResult(content=[TextContent(text=caption), image])


@server.tool(structured_output=False)
def weather(city: str) -> CallToolResult:
    """Only structured content, no text."""
    return CallToolResult(content=[], structured_content={"city": city, "temp_c": 21})


@server.tool()
def refuse(reason: str) -> str:
    """Always fails, saying why."""
    raise ToolError(f"refused: {reason}")


@server.tool()
def env_value(name: str) -> str:
    """The value of one of the server's environment variables."""
    return os.environ.get(name, "<unset>")


@server.tool()
def hang() -> str:
    """Never answers (says it started in ``$MCP_TEST_PIDS.hang``)."""
    path = os.environ.get("MCP_TEST_PIDS")
    if path:
        Path(path + ".hang").write_text("hanging")
    time.sleep(3600)
    return "unreachable"


@server.tool()
def crash() -> str:
    """Kills the server process in the middle of the call."""
    sys.stderr.write("crash: going down now\n")
    sys.stderr.flush()
    os._exit(9)


@server.tool()
def spawn_child() -> str:
    """Starts a long-lived child process and answers with its pid."""
    child = subprocess.Popen(["sleep", "3600"])
    _note_pid(child.pid)
    return str(child.pid)


if __name__ == "__main__":
    _note_pid(os.getpid())
    server.run("stdio")
