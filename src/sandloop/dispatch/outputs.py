"""Output items the dispatcher writes itself: for calls that failed, were denied or never ran.

Part of ``dispatch``. Every client call must get exactly one output in the next request, also
when its tool raised, timed out, was denied, was cancelled or does not exist. Each call family
has its own output shape (spec §3), built by the call item itself
(:meth:`~sandloop.items.ClientCallBase.failure_output`); the functions here are the
dispatcher's names for what every :data:`~sandloop.items.CallItem` says about itself.
"""

from __future__ import annotations

from typing import Any

from sandloop.items import BLANK_PNG, CallItem, McpApprovalRequest, Message, ToolSearchOutput
from sandloop.items.calls import ClientCallOutput

__all__ = (
    "BLANK_PNG",
    "call_arguments_text",
    "call_id_of",
    "call_label",
    "failure_note",
    "failure_output",
    "output_key",
)


def call_id_of(item: CallItem | McpApprovalRequest) -> str:
    """The id that pairs a call with its output (``id`` for an ``mcp_approval_request``)."""
    if isinstance(item, McpApprovalRequest):
        return item.id
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


def call_label(call: CallItem) -> str:
    """A short name for a call: the tool name for function/custom calls, else the family."""
    return call.label


def call_arguments_text(call: CallItem, *, exact: bool = False) -> str:
    """What the call asks for, as text (for approval prompts and events).

    Args:
        call: The call item.
        exact: Shell-quote a ``local_shell_call``'s argv, so that what a person approves reads
            exactly as what will run; otherwise its words are joined with spaces (for display).
    """
    return call.arguments_text(exact=exact)


def failure_output(
    call: CallItem, message: str, *, timed_out: bool = False
) -> ClientCallOutput | ToolSearchOutput:
    """The output item telling the model that ``call`` did not run (or failed) and why.

    Args:
        call: The call item.
        message: Plain words the model can act on.
        timed_out: The call ran past its timeout (a shell call then reports a timeout outcome).

    Raises:
        ValueError: ``call`` is an ``InvalidCall`` of a type no output answers.
    """
    return call.failure_output(message, timed_out=timed_out)


def failure_note(call: CallItem, message: str) -> Message | None:
    """A developer message carrying the failure text for outputs that cannot hold text.

    Only computer calls need one: their output is a screenshot. ``None`` for the others.
    """
    if call.output_holds_text:
        return None
    return Message(role="developer", content=f"{call.label} call {call.call_id} failed: {message}")
