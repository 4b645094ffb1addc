"""RunResult: what a run produced, and the text of its final answer.

Part of ``loop``. A result is plain data: :meth:`RunResult.to_dict` gives JSON-ready values
(items in wire form) so a run's outcome can travel between processes (DESIGN §7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from sandloop.errors import ConfigError, InvalidResponseError
from sandloop.items import (
    CallItem,
    Item,
    Message,
    OutputText,
    Response,
    Usage,
    is_call_item,
    parse_items,
    parse_response,
)
from sandloop.items._base import UnknownWireModel
from sandloop.loop._versioning import FORMAT_VERSION, check_version
from sandloop.pricing import RunCost, cost_of
from sandloop.sandboxes.base import WorkspaceChanges

if TYPE_CHECKING:
    from sandloop.loop.state import RunState

__all__ = ("PendingApproval", "RunResult", "RunStatus", "final_text")

RunStatus = Literal[
    "completed",
    "incomplete",
    "failed",
    "max_turns",
    "token_budget",
    "cost_budget",
    "timeout",
    "cancelled",
    "sandbox_error",
    "needs_approval",
    "invalid_output",
]


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """A call a paused run waits to have decided (``approve="defer"``).

    Attributes:
        call_id: The call's id: the key of ``decisions=`` in :func:`sandloop.resume`.
        tool: The tool name or call family (``shell``, ``apply_patch``, ...).
        action: What it would do, as text: the commands, ``update_file path``, the arguments.
        call: The call item itself (the whole patch of an ``apply_patch_call``, for one).
    """

    call_id: str
    tool: str
    action: str
    call: CallItem

    @classmethod
    def of(cls, call: CallItem) -> PendingApproval:
        """The pending approval of a call item."""
        return cls(str(call.call_id), call.label, call.arguments_text(exact=True), call)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the call in wire form)."""
        return {
            "call_id": self.call_id,
            "tool": self.tool,
            "action": self.action,
            "call": _wire(self.call),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingApproval:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ConfigError: ``call`` is not a call item.
        """
        call = parse_items([data["call"]])[0]
        if not is_call_item(call):
            raise ConfigError(f"a pending approval's call is a {call.type!r} item, not a call")
        return cls(str(data["call_id"]), str(data["tool"]), str(data["action"]), call)


@dataclass(slots=True)
class RunResult:
    """The outcome of a run (partial when it stopped early; errors carry it as ``.result``).

    Attributes:
        run_id: The run's id.
        status: ``completed`` or why the run stopped.
        final_output: Text of the final assistant message (``phase: "final_answer"`` preferred),
            ``""`` when there is none. With ``Agent(output_type=T)``, a completed run's is
            the ``T`` instance the text validated to (:attr:`output_text` keeps the text).
        items: Every item of the run in order: the input, each response's output, each output
            the client sent. Every call has its output, so the items can be sent again.
        responses: Every Response, in order.
        usage: Token usage summed over all model calls (and compactions).
        turns: Number of model calls.
        history: The items a next request must build on: ``items`` unless the run compacted
            its history, then the compacted items and what followed.
        last_response_id: The id of the last response (to chain a follow-up run).
        pending_input: The items the last response has not seen, in order: the outputs (real,
            or synthetic after a stop) that answer its calls. A follow-up run chained onto
            ``last_response_id`` must send them first, or the server rejects the request for
            calls without an output; :meth:`continue_input` builds that input. Empty after a
            completed run; the whole input when no response came back.
        changes: What the run changed in its copied workspace (``mount="copy"`` and a
            sandbox the run started itself), kept before the sandbox was removed.
        pending_approvals: The calls waiting for a decision when ``status ==
            "needs_approval"``.
        state: The paused run (``status == "needs_approval"``), to continue with
            :func:`sandloop.resume`; ``None`` otherwise.
        output_text: The final assistant message's text, also when :attr:`final_output` is a
            typed value.

    Example:
        Going on after a stop, chained (``store=True``) or stateless::

            try:
                result = await run(agent, "fix the tests")
            except MaxTurnsExceeded as stop:
                result = stop.result
            result = await run(
                agent,
                result.continue_input("go on"),
                previous_response_id=result.last_response_id,
            )
            # store=False: run(agent, [*result.history, Message(role="user", content="go on")])
    """

    run_id: str
    status: RunStatus
    final_output: Any
    items: list[Any]
    responses: list[Response] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage.zero)
    turns: int = 0
    history: list[Any] = field(default_factory=list)
    last_response_id: str | None = None
    pending_input: list[Any] = field(default_factory=list)
    changes: WorkspaceChanges | None = None
    pending_approvals: list[PendingApproval] = field(default_factory=list)
    state: RunState | None = None
    output_text: str | None = None

    def __post_init__(self) -> None:
        if self.output_text is None and isinstance(self.final_output, str):
            self.output_text = self.final_output

    @property
    def cost(self) -> RunCost:
        """What the model calls cost in dollars, per turn and in total (``cost.total`` is
        ``None`` when a call's model has no price), from the process's price table
        (:mod:`sandloop.pricing`)."""
        return cost_of(self.responses)

    def continue_input(self, message: str | list[Any] | None = None) -> list[Any]:
        """The input of a follow-up run chained onto :attr:`last_response_id`.

        Args:
            message: A user message (or items) to send after :attr:`pending_input`.

        Returns:
            :attr:`pending_input`, then ``message``; pass it with
            ``previous_response_id=result.last_response_id``.
        """
        extra: list[Any]
        if message is None:
            extra = []
        elif isinstance(message, str):
            extra = [Message(role="user", content=message)]
        else:
            extra = list(message)
        return [*self.pending_input, *extra]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, ``{"version": 1, ...}``: items and responses in wire form, exactly
        as they were (``created_by`` included), so :meth:`from_dict` gives an equal result.
        A typed ``final_output`` is written as its JSON value (and read back as that value,
        a dict: the type is not recorded)."""
        return {
            "version": FORMAT_VERSION,
            "run_id": self.run_id,
            "status": self.status,
            "final_output": self.final_output
            if isinstance(self.final_output, str)
            else to_jsonable_python(self.final_output),
            "output_text": self.output_text,
            "items": [_wire(i) for i in self.items],
            "responses": [r.to_wire() for r in self.responses],
            "usage": self.usage.to_wire(),
            "turns": self.turns,
            "history": [_wire(i) for i in self.history],
            "last_response_id": self.last_response_id,
            "pending_input": [_wire(i) for i in self.pending_input],
            "changes": self.changes.to_dict() if self.changes is not None else None,
            "pending_approvals": [p.to_dict() for p in self.pending_approvals],
            "state": self.state.to_dict() if self.state is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Rebuild a result from :meth:`to_dict` output.

        A description without a ``version`` (written before results had one) reads as
        version 1.

        Raises:
            ConfigError: a field is missing or malformed (named in the message), or the
                format version is newer than this sandloop reads.
        """
        check_version(data.get("version", 1), what="RunResult")
        try:
            return cls._from_dict(data)
        except KeyError as exc:
            raise ConfigError(f"a RunResult description needs {exc.args[0]!r}") from exc
        except (InvalidResponseError, ValidationError, TypeError) as exc:
            raise ConfigError(f"not a RunResult description: {exc}") from exc

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            run_id=data["run_id"],
            status=data["status"],
            final_output=data["final_output"],
            items=parse_items(data["items"]),
            responses=[parse_response(r) for r in data["responses"]],
            usage=Usage.model_validate(data["usage"]),
            turns=data["turns"],
            history=parse_items(data["history"]),
            last_response_id=data.get("last_response_id"),
            # Absent from results saved before the field existed.
            pending_input=parse_items(data.get("pending_input") or []),
            changes=_changes(data.get("changes")),
            pending_approvals=[
                PendingApproval.from_dict(p) for p in data.get("pending_approvals") or []
            ],
            state=_state(data.get("state")),
            output_text=data.get("output_text"),
        )


def _changes(data: Any) -> WorkspaceChanges | None:
    if data is None:
        return None
    return WorkspaceChanges(str(data["diff"]), tuple(str(p) for p in data["paths"]))


def _state(data: Any) -> RunState | None:
    from sandloop.loop.state import RunState

    return RunState.from_dict(data) if data is not None else None


def _wire(item: Item | dict[str, Any]) -> dict[str, Any]:
    """An item's wire dict, lossless (``dump_item`` drops ``created_by`` for requests)."""
    if isinstance(item, UnknownWireModel):
        return dict(item.raw)
    if isinstance(item, dict):
        return dict(item)
    return item.to_wire()


def final_text(items: list[Any]) -> str:
    """Text of the last assistant message, preferring the last ``final_answer`` one."""
    last: Message | None = None
    for item in reversed(items):
        if isinstance(item, Message) and item.role == "assistant":
            if item.phase == "final_answer":
                return _text(item)
            if last is None:
                last = item
    return _text(last) if last is not None else ""


def _text(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content
    return "".join(p.text for p in message.content if isinstance(p, OutputText))
