"""Small builders for the output items a scripted turn returns.

Each builder returns a plain dict in the wire form of the Responses API, with fresh ids, ready to
be put in a :class:`~sandloop.testing.ScriptedResponsesServer` turn. Pass ``call_id=`` (or ``id=``)
when a test needs to refer to a call by a known id.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = (
    "apply_patch_call",
    "computer_call",
    "custom_tool_call",
    "function_call",
    "local_shell_call",
    "mcp_approval_request",
    "message",
    "reasoning",
    "shell_call",
    "tool_search_call",
)

_counter = itertools.count(1)


def _new_id(prefix: str) -> str:
    # Sequential ids keep test output readable and runs reproducible.
    return f"{prefix}_{next(_counter):06d}"


def function_call(
    name: str,
    args: Mapping[str, Any] | str | None = None,
    *,
    call_id: str | None = None,
    id: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A ``function_call`` item.

    Args:
        name: The function tool's name.
        args: The arguments, as a mapping (serialised to JSON) or as raw JSON text (sent as is,
            so a test can send malformed arguments).
        call_id: The call id; a fresh ``call_…`` id when left out.
        id: The item id; a fresh ``fc_…`` id when left out.
        namespace: The namespace of a function grouped in a ``namespace`` tool.
    """
    arguments = args if isinstance(args, str) else json.dumps(dict(args or {}))
    item: dict[str, Any] = {
        "type": "function_call",
        "id": id or _new_id("fc"),
        "call_id": call_id or _new_id("call"),
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def custom_tool_call(
    name: str, input: str, *, call_id: str | None = None, id: str | None = None
) -> dict[str, Any]:
    """A ``custom_tool_call`` item whose ``input`` is free text."""
    return {
        "type": "custom_tool_call",
        "id": id or _new_id("ctc"),
        "call_id": call_id or _new_id("call"),
        "name": name,
        "input": input,
    }


def message(
    text: str,
    *,
    phase: Literal["commentary", "final_answer"] | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """An assistant ``message`` item with one ``output_text`` part."""
    item: dict[str, Any] = {
        "type": "message",
        "id": id or _new_id("msg"),
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    if phase is not None:
        item["phase"] = phase
    return item


def reasoning(
    summary: str | Sequence[str] = (),
    *,
    encrypted_content: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A ``reasoning`` item; ``encrypted_content`` is opaque and must be replayed verbatim."""
    texts = [summary] if isinstance(summary, str) else list(summary)
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": id or _new_id("rs"),
        "summary": [{"type": "summary_text", "text": t} for t in texts],
    }
    if encrypted_content is not None:
        item["encrypted_content"] = encrypted_content
    return item


def shell_call(
    commands: Sequence[str] | str,
    *,
    timeout_ms: int | None = None,
    max_output_length: int | None = None,
    call_id: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A ``shell_call`` item (the multi-command ``shell`` tool, local environment)."""
    cmds = [commands] if isinstance(commands, str) else list(commands)
    return {
        "type": "shell_call",
        "id": id or _new_id("sh"),
        "call_id": call_id or _new_id("call"),
        "status": "completed",
        "action": {
            "commands": cmds,
            "timeout_ms": timeout_ms,
            "max_output_length": max_output_length,
        },
        "environment": {"type": "local"},
    }


def apply_patch_call(
    op: Literal["create_file", "update_file", "delete_file"],
    path: str,
    diff: str | None = None,
    *,
    call_id: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """An ``apply_patch_call`` item; ``diff`` is required except for ``delete_file``."""
    operation: dict[str, Any] = {"type": op, "path": path}
    if op != "delete_file":
        if diff is None:
            raise ValueError(f"apply_patch_call({op!r}) needs a diff")
        operation["diff"] = diff
    return {
        "type": "apply_patch_call",
        "id": id or _new_id("apc"),
        "call_id": call_id or _new_id("call"),
        "status": "completed",
        "operation": operation,
    }


def local_shell_call(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    working_directory: str | None = None,
    timeout_ms: int | None = None,
    user: str | None = None,
    call_id: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A ``local_shell_call`` item. Its output item answers with ``id`` set to this call_id."""
    action: dict[str, Any] = {"type": "exec", "command": list(argv), "env": dict(env or {})}
    for key, value in (
        ("working_directory", working_directory),
        ("timeout_ms", timeout_ms),
        ("user", user),
    ):
        if value is not None:
            action[key] = value
    return {
        "type": "local_shell_call",
        "id": id or _new_id("lsh"),
        "call_id": call_id or _new_id("call"),
        "status": "completed",
        "action": action,
    }


def computer_call(
    actions: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    pending_safety_checks: Sequence[Mapping[str, Any]] = (),
    call_id: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A ``computer_call``: one action mapping (``action``) or a list of them (``actions``)."""
    item: dict[str, Any] = {
        "type": "computer_call",
        "id": id or _new_id("cu"),
        "call_id": call_id or _new_id("call"),
        "status": "completed",
        "pending_safety_checks": [dict(c) for c in pending_safety_checks],
    }
    if isinstance(actions, Mapping):
        item["action"] = dict(actions)
    else:
        item["actions"] = [dict(a) for a in actions]
    return item


def mcp_approval_request(
    name: str, arguments: Mapping[str, Any] | str, *, server_label: str, id: str | None = None
) -> dict[str, Any]:
    """An ``mcp_approval_request``, answered by an ``mcp_approval_response``."""
    return {
        "type": "mcp_approval_request",
        "id": id or _new_id("mcpr"),
        "name": name,
        "arguments": arguments if isinstance(arguments, str) else json.dumps(dict(arguments)),
        "server_label": server_label,
    }


_NO_ARGUMENTS = object()


def tool_search_call(
    query: str | None = None,
    *,
    limit: int | None = None,
    arguments: Any = _NO_ARGUMENTS,
    execution: Literal["client", "server"] = "client",
    call_id: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A ``tool_search_call`` item: the model searches the deferred tools.

    Args:
        query: The search words (``arguments`` becomes ``{"query": query}``).
        limit: Added to the arguments as ``limit``.
        arguments: The arguments as sent, instead of ``query``/``limit`` (any JSON value, so a
            test can send malformed ones).
        execution: ``client`` (sandloop answers it with a ``tool_search_output``) or ``server``.
        call_id: The call id; a fresh ``call_…`` id when left out.
        id: The item id; a fresh ``tsc_…`` id when left out.
    """
    if arguments is _NO_ARGUMENTS:
        arguments = {"query": query or ""}
        if limit is not None:
            arguments["limit"] = limit
    return {
        "type": "tool_search_call",
        "id": id or _new_id("tsc"),
        "call_id": call_id or _new_id("call"),
        "execution": execution,
        "arguments": arguments,
        "status": "completed",
    }
