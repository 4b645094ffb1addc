"""A minimal MCP server in plain Python (no SDK): newline-delimited JSON-RPC on stdio.

It runs where the mcp SDK is not installed (inside the sandbox image) and can misbehave
exactly: answer garbage, an invalid result, a line past any sane size, or exit mid-call.
It speaks the initialize handshake (2025-06-18) and answers ``server/discover`` with
"method not found", as a server of that revision does.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

TOOLS = {
    "echo": "Echo the text back.",
    "where": "The server's working directory and its files.",
    "garbage": "Answers with a line that is not JSON-RPC, then nothing.",
    "bad_result": "Answers with a result that is not a tools/call result.",
    "huge": "Answers with one line longer than any client should hold.",
    "spam": "Writes 150 lines that are not JSON-RPC, then nothing.",
    "exit": "Exits in the middle of the call.",
}


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def call(request_id: int, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    if name == "echo":
        return {"content": [{"type": "text", "text": args.get("text", "")}]}
    if name == "where":
        cwd = os.getcwd()
        return {
            "content": [{"type": "text", "text": cwd + ": " + ",".join(sorted(os.listdir(cwd)))}]
        }
    if name == "garbage":
        sys.stdout.write("this is not JSON-RPC\n")
        sys.stdout.flush()
        return None
    if name == "bad_result":
        return {"content": "not a list of blocks"}
    if name == "spam":
        sys.stdout.write("log line\n" * 150)
        sys.stdout.flush()
        return None
    if name == "huge":
        send({"jsonrpc": "2.0", "id": request_id, "result": {"text": "x" * 4_000_000}})
        return None
    if name == "exit":
        sys.stderr.write("exit: stopping on purpose\n")
        sys.stderr.flush()
        os._exit(7)
    raise KeyError(name)


def listing() -> list[dict[str, Any]]:
    """The tools; ``STDLIB_EXTRA_TOOLS=n`` adds n more, ``STDLIB_BIG_SCHEMA=n`` gives echo a
    schema of about n characters."""
    schema: dict[str, Any] = {"type": "object", "properties": {"text": {"type": "string"}}}
    big = int(os.environ.get("STDLIB_BIG_SCHEMA", "0"))
    tools = [
        {
            "name": name,
            "description": about,
            "inputSchema": {**schema, "description": "x" * big} if name == "echo" else schema,
        }
        for name, about in TOOLS.items()
    ]
    extra = int(os.environ.get("STDLIB_EXTRA_TOOLS", "0"))
    tools += [{"name": f"t{i}", "inputSchema": schema} for i in range(extra)]
    return tools


def answer(message: dict[str, Any]) -> None:
    method = message.get("method")
    request_id = message.get("id")
    if request_id is None:
        return  # a notification
    result: dict[str, Any] | None
    if method == "initialize":
        result = {
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "stdlib", "version": "1"},
        }
    elif method == "tools/list":
        result = {"tools": listing()}
    elif method == "tools/call":
        params = message.get("params") or {}
        result = call(request_id, str(params.get("name")), params.get("arguments") or {})
        if result is None:
            return
    elif method == "ping":
        result = {}
    else:
        send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": -32601, "message": "Method not found"},
            }
        )
        return
    send({"jsonrpc": "2.0", "id": request_id, "result": result})


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            answer(json.loads(line))


if __name__ == "__main__":
    main()
