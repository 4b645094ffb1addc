"""What the MCP tests share: the test servers' paths, a scripted-model run, output lookups.

The servers are real processes (``tests/e2e/mcp_servers``): one written with the mcp SDK over
stdio, one with the SDK over Streamable HTTP (127.0.0.1, a free port), and one in plain Python
that can misbehave byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from sandloop.client import ResponsesClient
from sandloop.testing import RecordedRequest, ScriptedResponsesServer

pytest.importorskip("mcp", reason="the MCP tests need the mcp extra: pip install 'sandloop[mcp]'")

SERVERS = Path(__file__).parent / "mcp_servers"
SDK_STDIO = str(SERVERS / "sdk_stdio_server.py")
SDK_HTTP = str(SERVERS / "sdk_http_server.py")
STDLIB = str(SERVERS / "stdlib_server.py")
PYTHON = sys.executable


@asynccontextmanager
async def serve(turns: list[Any]) -> AsyncIterator[tuple[ScriptedResponsesServer, ResponsesClient]]:
    """The scripted Responses server playing ``turns``, and a client for it."""
    async with (
        ScriptedResponsesServer(turns) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        yield server, client


def outputs(request: RecordedRequest) -> dict[str, Any]:
    """call_id → output (text or content parts) of the function outputs in a request."""
    return {
        i["call_id"]: i["output"]
        for i in request.body["input"]
        if i["type"] == "function_call_output"
    }


def tool_names(request: RecordedRequest) -> list[str]:
    return [t["name"] for t in request.body.get("tools", [])]


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    try:
        return status.read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


_HTTP_SERVERS: dict[str, subprocess.Popen[str]] = {}


def stop_http_server(url: str) -> None:
    """Kill the HTTP server behind ``url`` now (a server going away mid-run)."""
    process = _HTTP_SERVERS[url]
    process.kill()
    process.wait(timeout=10)


@contextmanager
def http_server() -> Iterator[str]:
    """The SDK's Streamable HTTP server in its own process; yields its MCP endpoint URL."""
    process = subprocess.Popen(
        [PYTHON, SDK_HTTP], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    url = ""
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), f"the HTTP MCP server did not start: {line!r}"
        url = f"http://127.0.0.1:{int(line.split()[1])}/mcp"
        _HTTP_SERVERS[url] = process
        yield url
    finally:
        _HTTP_SERVERS.pop(url, None)
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
