"""Output items the dispatcher writes itself: for calls that failed, were denied or never ran.

Part of ``dispatch``. Every client call must get exactly one output in the next request, also
when its tool raised, timed out, was denied, was cancelled or does not exist. Each call family
has its own output shape (spec §3); :func:`failure_output` builds the right one with a message
the model can act on.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from sandloop.executors.local_shell import local_shell_output
from sandloop.items import (
    ApplyPatchCallOutput,
    ComputerCallOutput,
    ComputerScreenshot,
    CustomToolCallOutput,
    FunctionCallOutput,
    InvalidCall,
    Message,
    ShellCallOutput,
    ShellCallOutputContent,
    ShellExitOutcome,
    ShellTimeoutOutcome,
    ToolSearchOutput,
)

__all__ = (
    "BLANK_PNG",
    "call_arguments_text",
    "call_id_of",
    "call_label",
    "failure_note",
    "failure_output",
    "output_key",
)

#: A 1×1 transparent PNG: the screenshot of a computer call that could not run.
BLANK_PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def call_id_of(item: Any) -> str:
    """The id that pairs a call with its output (``id`` for an ``mcp_approval_request``)."""
    if item.type == "mcp_approval_request":
        return str(item.id)
    return str(item.call_id)


def output_key(item: Any) -> str | None:
    """The call id an output item answers, or ``None`` when ``item`` is not an output."""
    kind = getattr(item, "type", None)
    if kind == "local_shell_call_output":
        return str(item.id)
    if kind == "mcp_approval_response":
        return str(item.approval_request_id)
    if isinstance(kind, str) and kind.endswith("_output"):
        call_id = getattr(item, "call_id", None)
        return str(call_id) if call_id is not None else None
    return None


def call_label(call: Any) -> str:
    """A short name for a call: the tool name for function/custom calls, else the family."""
    name = getattr(call, "name", None)
    if call.type in ("function_call", "custom_tool_call") and name:
        namespace = getattr(call, "namespace", None)
        return f"{namespace}.{name}" if namespace else str(name)
    return str(call.type).removesuffix("_call")


def call_arguments_text(call: Any, *, exact: bool = False) -> str:
    """What the call asks for, as text (for approval prompts and events).

    Args:
        call: The call item.
        exact: Shell-quote a ``local_shell_call``'s argv, so that what a person approves reads
            exactly as what will run; otherwise its words are joined with spaces (for display).
    """
    kind = call.type
    if isinstance(call, InvalidCall):
        text = json.dumps(call.raw, ensure_ascii=False, default=str)
        return text if len(text) <= 2000 else text[:2000] + "..."
    if kind == "function_call":
        return str(call.arguments)
    if kind == "custom_tool_call":
        return str(call.input)
    if kind == "shell_call":
        return "\n".join(call.action.commands)
    if kind == "local_shell_call":
        argv = call.action.command
        return shlex.join(argv) if exact else " ".join(argv)
    if kind == "apply_patch_call":
        op = call.operation
        return f"{op.type} {op.path}"
    if kind == "mcp_approval_request":
        return str(call.arguments or "")
    if kind == "computer_call":
        actions = call.actions if call.actions is not None else [call.action]
        return ", ".join(getattr(a, "type", "?") for a in actions if a is not None)
    return ""


def failure_output(call: Any, message: str, *, timed_out: bool = False) -> Any:
    """The output item telling the model that ``call`` did not run (or failed) and why.

    Args:
        call: The call item.
        message: Plain words the model can act on.
        timed_out: The call ran past its timeout (a shell call then reports a timeout outcome).
    """
    kind = call.type
    if kind == "function_call":
        return FunctionCallOutput(call_id=call.call_id, output=message)
    if kind == "custom_tool_call":
        return CustomToolCallOutput(call_id=call.call_id, output=message)
    if kind == "apply_patch_call":
        return ApplyPatchCallOutput(call_id=call.call_id, status="failed", output=message)
    if kind == "shell_call":
        outcome = ShellTimeoutOutcome() if timed_out else ShellExitOutcome(exit_code=1)
        chunk = ShellCallOutputContent(stdout="", stderr=message, outcome=outcome)
        return ShellCallOutput(
            call_id=call.call_id, output=[chunk], max_output_length=_max_output_length(call)
        )
    if kind == "local_shell_call":
        exit_code = None if timed_out else 1
        return local_shell_output(
            call.call_id, stdout="", stderr=message, exit_code=exit_code, timed_out=timed_out
        )
    if kind == "computer_call":
        # The output carries only a screenshot: send a blank one, marked incomplete; the words
        # go in a developer message after it (see :func:`failure_note`).
        return ComputerCallOutput(
            call_id=call.call_id,
            output=ComputerScreenshot(image_url=BLANK_PNG),
            status="incomplete",
        )
    if kind == "tool_search_call":
        return ToolSearchOutput(call_id=call.call_id, tools=[], execution="client")
    raise ValueError(f"no output item type answers a {kind!r} item")


def _max_output_length(call: Any) -> int | None:
    """The shell call's ``max_output_length`` to echo (none from a call that failed validation)."""
    if isinstance(call, InvalidCall):
        action = call.raw.get("action")
        value = action.get("max_output_length") if isinstance(action, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    value = call.action.max_output_length
    return value if isinstance(value, int) else None


def failure_note(call: Any, message: str) -> Message | None:
    """A developer message carrying the failure text for outputs that cannot hold text.

    Only computer calls need one: their output is a screenshot. ``None`` for the others.
    """
    if call.type != "computer_call":
        return None
    return Message(role="developer", content=f"computer call {call.call_id} failed: {message}")
