"""Names of MCP servers and of the function tools their tools become.

Part of ``executors.mcp``. The Responses API takes function names of ``[A-Za-z0-9_-]``, at
most 64 characters; MCP tool names are freer (dots, slashes, any length). A server's tool
``search`` is offered as ``<server>__search``: other characters become ``_``, and a name past
64 characters is cut and ends in 8 hex digits of a hash of the full name, so it stays unique.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ("MAX_SERVER_NAME", "default_name", "server_name", "tool_name")

MAX_NAME = 64
#: Characters a server name may keep, leaving room for its tools' names.
MAX_SERVER_NAME = 32
_BAD = re.compile(r"[^A-Za-z0-9_-]+")
#: Commands that run a script or package named in their arguments.
_LAUNCHERS = frozenset({"python", "python3", "node", "npx", "uv", "uvx", "deno", "bun", "pipx"})


def _clean(text: str) -> str:
    return _BAD.sub("_", text).strip("_") or "mcp"


def server_name(name: str) -> str:
    """``name`` in the API's character set, at most :data:`MAX_SERVER_NAME` characters."""
    return _clean(name)[:MAX_SERVER_NAME]


def default_name(command: str | None, args: Sequence[str], url: str | None) -> str:
    """A server's name when none is given: the host of its URL, else its command, or for an
    interpreter or package runner (``python``, ``npx``, ...) the script or package it runs."""
    if url is not None:
        return server_name(urlsplit(url).hostname or "mcp")
    word = command or "mcp"
    if os.path.basename(word).rstrip("0123456789.") in _LAUNCHERS:
        named = [a for a in args if not a.startswith("-") and a not in ("run", "exec", "x")]
        word = named[0] if named else word
    stem = os.path.splitext(os.path.basename(word.rstrip("/")))[0]
    return server_name(stem.split("@")[0] or stem)  # a package's version: pkg@1.2


def tool_name(server: str, tool: str) -> str:
    """The function name tool ``tool`` of server ``server`` is offered under."""
    name = f"{server}__{_clean(tool)}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"
