"""Typed run events: what the loop tells the CLI and embedders while a run goes on.

Part of ``loop``. The loop emits these to one sink: :func:`sandloop.stream` yields them,
:func:`sandloop.run` passes them to ``on_event`` (or drops them). Events are frozen dataclasses
that hold references to the run's items, never copies, so emitting costs next to nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandloop.dispatch import CallStatus
    from sandloop.items import CallItem, Response, Usage
    from sandloop.loop.result import RunResult

__all__ = (
    "Compacted",
    "ResponseCreated",
    "ResponseRetrying",
    "RunEnded",
    "RunEvent",
    "RunStarted",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolOutputDelta",
    "TurnEnded",
    "TurnStarted",
)


@dataclass(frozen=True, slots=True)
class RunEvent:
    """Base of every run event.

    Attributes:
        run_id: The run the event belongs to.
    """

    run_id: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"event": "tool_call_finished", "run_id": ..., <fields>}``, items
        in wire form, an error as ``{"type", "message"}``, a result as ``RunResult.to_dict``."""
        out: dict[str, Any] = {"event": _snake(type(self).__name__)}
        for f in fields(self):
            out[f.name] = _json_value(getattr(self, f.name))
        return out


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _json_value(value: Any) -> Any:
    """A field value in JSON form (wire dicts for items, responses and usage)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, BaseException):
        return {"type": type(value).__name__, "message": str(value)}
    if hasattr(value, "to_wire"):
        return value.to_wire()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value if isinstance(value, dict) else str(value)


@dataclass(frozen=True, slots=True)
class RunStarted(RunEvent):
    """The run began.

    Attributes:
        model: The model it uses.
        stateless: ``True`` when the whole history is resent each turn (``store=False``).
    """

    model: str
    stateless: bool


@dataclass(frozen=True, slots=True)
class TurnStarted(RunEvent):
    """A model call is about to be sent.

    Attributes:
        turn: 1-based number of the model call.
    """

    turn: int


@dataclass(frozen=True, slots=True)
class ResponseCreated(RunEvent):
    """The server accepted the request and named the response.

    Attributes:
        turn: The model call.
        response_id: The response's id.
    """

    turn: int
    response_id: str | None


@dataclass(frozen=True, slots=True)
class ResponseRetrying(RunEvent):
    """A model request failed and the same request is sent again.

    Either the request failed before its answer began (``cut`` false: an HTTP error status such
    as 500 or 429, no connection, a timeout; the client retries it), or the stream of the answer
    broke before its end (``cut`` true; the loop retries it). After a cut, everything streamed
    for this turn before this event (text deltas, the response id) belongs to the broken answer:
    discard it. Nothing of it entered the run's items; the retry streams the answer anew.

    Attributes:
        turn: The model call.
        attempt: 1-based number of this retry (at most ``max_retries``).
        error: Why the request failed (an ``ApiStatusError``, ``ApiConnectionError`` or
            ``ApiTimeoutError``).
        delay: Seconds waited before the request is sent again.
        max_retries: The retries the client's policy allows (``retry.max_retries``).
        cut: Whether an answer had begun streaming (its text is void).
    """

    turn: int
    attempt: int
    error: BaseException
    delay: float
    max_retries: int = 0
    cut: bool = True


@dataclass(frozen=True, slots=True)
class TextDelta(RunEvent):
    """A fragment of the model's text (streaming runs only).

    Attributes:
        turn: The model call.
        item_id: The message item the text belongs to.
        delta: The new text.
    """

    turn: int
    item_id: str | None
    delta: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted(RunEvent):
    """A tool call began (or is about to be answered without running: unknown, denied).

    Attributes:
        turn: The model call that asked for it.
        call_id: The call's id.
        tool: The tool name, or the call family (``shell``, ``apply_patch``, ...).
        call: The call item.
    """

    turn: int
    call_id: str
    tool: str
    call: CallItem


@dataclass(frozen=True, slots=True)
class ToolOutputDelta(RunEvent):
    """Output a running command printed, as it arrives (``shell`` and ``local_shell`` calls,
    in sandboxes that stream it: ``Sandbox.streams_output``).

    Coalesced by the sandbox (at most 10 a second per command, at most 8 KiB per stream each,
    the newest bytes when more arrived), so this is for watching, not a record: the call's
    output item holds what the model sees. The text is the command's own, control characters
    and escape sequences included: a display must clean it.

    Attributes:
        turn: The model call that asked for the call.
        call_id: The call's id.
        tool: The call family (``shell``, ``local_shell``).
        command: 0-based index of the command within the call.
        stream: ``stdout`` or ``stderr``.
        delta: The new text (UTF-8 decoded across chunks; invalid bytes as U+FFFD).
    """

    turn: int
    call_id: str
    tool: str
    command: int
    stream: str
    delta: str


@dataclass(frozen=True, slots=True)
class ToolCallFinished(RunEvent):
    """A tool call has its output.

    Attributes:
        turn: The model call that asked for it.
        call_id: The call's id.
        tool: The tool name or call family.
        status: ``completed``, ``failed``, ``invalid_arguments``, ``unknown_tool``, ``denied``,
            ``timed_out`` or ``cancelled``.
        duration: Seconds the call ran.
        output: The output item sent back.
        error: What the model was told when the call did not complete.
        exception: The exception the tool raised, when it raised one.
    """

    turn: int
    call_id: str
    tool: str
    status: CallStatus
    duration: float
    output: Any
    error: str | None = None
    exception: BaseException | None = None


@dataclass(frozen=True, slots=True)
class TurnEnded(RunEvent):
    """A model call finished and its output was recorded.

    Attributes:
        turn: The model call.
        response: The Response.
        usage: Its token usage (zero when the server sent none).
        pending_calls: How many client calls it asked for.
    """

    turn: int
    response: Response
    usage: Usage
    pending_calls: int


@dataclass(frozen=True, slots=True)
class Compacted(RunEvent):
    """The history was compacted with ``POST /responses/compact``.

    Attributes:
        turn: The last model call before compaction.
        items_before: History length before.
        items_after: History length after.
    """

    turn: int
    items_before: int
    items_after: int


@dataclass(frozen=True, slots=True)
class RunEnded(RunEvent):
    """The run finished (successfully or not); the last event of every run.

    Attributes:
        result: The result (partial when the run failed).
        error: The exception that ended the run, or ``None``.
    """

    result: RunResult
    error: BaseException | None = None
