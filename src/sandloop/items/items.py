"""Conversation items: messages, reasoning, compaction, references, and the ``Item`` union.

The loop's history is a list of ``Item``: ``parse_item`` turns wire dicts into typed items, and
``dump_item`` turns them back into request JSON (unset fields left out, explicit nulls kept,
``created_by`` stripped). Unknown item types become ``UnknownItem`` and are replayed unchanged.
A client call item that fails validation becomes an ``InvalidCall`` (an ``UnknownItem`` that
knows what was wrong): the loop answers it with a failed output instead of rejecting the whole
response.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import (
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from sandloop.errors import InvalidResponseError
from sandloop.items._base import (
    WIRE_CONTEXT,
    UnknownWireModel,
    WireModel,
    replace_lone_surrogates,
    strip_created_by,
)
from sandloop.items.calls import (
    CALL_OUTPUT_TYPES,
    CLIENT_CALL_CLASSES,
    ApplyPatchCall,
    ApplyPatchCallOutput,
    ClientCall,
    ClientCallBase,
    ClientCallOutput,
    ComputerCall,
    ComputerCallOutput,
    CustomToolCall,
    CustomToolCallOutput,
    FunctionCall,
    FunctionCallOutput,
    LocalShellCall,
    LocalShellCallOutput,
    ShellCall,
    ShellCallOutput,
)
from sandloop.items.content import ContentPart
from sandloop.items.hosted import (
    AdditionalTools,
    CodeInterpreterCall,
    FileSearchCall,
    ImageGenerationCall,
    McpApprovalRequest,
    McpApprovalResponse,
    McpCall,
    McpListTools,
    ToolSearchCall,
    ToolSearchOutput,
    WebSearchCall,
)

__all__ = (
    "CallItem",
    "Compaction",
    "CompactionTrigger",
    "InvalidCall",
    "Item",
    "ItemReference",
    "Message",
    "Reasoning",
    "UnknownItem",
    "describe_validation_error",
    "dump_item",
    "dump_items",
    "is_call_item",
    "parse_item",
    "parse_items",
)


class Message(WireModel):
    """A message from the user, the developer/system, or the assistant.

    ``content`` is a plain string or a list of content parts. Assistant messages may carry
    ``phase`` (``commentary`` or ``final_answer``), which must be replayed.
    """

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | Sequence[ContentPart]
    phase: str | None = None
    status: str | None = None
    id: str | None = None


class Reasoning(WireModel):
    """A reasoning record; replay it (with ``encrypted_content`` when stateless) with its call."""

    type: Literal["reasoning"] = "reasoning"
    id: str | None = None
    summary: list[ContentPart] = Field(default_factory=list)
    content: list[ContentPart] | None = None
    encrypted_content: str | None = None
    status: str | None = None


class Compaction(WireModel):
    """An opaque summary of earlier context; replay ``encrypted_content`` byte for byte."""

    type: Literal["compaction"] = "compaction"
    encrypted_content: str
    id: str | None = None


class CompactionTrigger(WireModel):
    """Ask the server to compact now; must be the last input item."""

    type: Literal["compaction_trigger"] = "compaction_trigger"


class ItemReference(WireModel):
    """Point at a stored item by id instead of resending it (``type`` is optional on the wire)."""

    type: Literal["item_reference"] = "item_reference"
    id: str


class UnknownItem(UnknownWireModel):
    """An item of a type this version does not know; ``raw`` holds it, sent back unchanged."""


#: The class of every call type the client may answer (a client tool search included).
_CALL_FAMILIES: Mapping[str, type[ClientCallBase] | type[ToolSearchCall]] = {
    **CLIENT_CALL_CLASSES,
    "tool_search_call": ToolSearchCall,
}


class InvalidCall(UnknownItem):
    """A client call item (``shell_call``, ``apply_patch_call``, ...) that failed validation.

    Kept as it came (``raw``, replayed unchanged) so that one malformed call does not make the
    whole response invalid; the dispatcher answers it with a failed output of the call's output
    type naming :attr:`problem`. A call without a usable ``call_id`` (missing, empty or not a
    string) cannot be answered: it is kept in the history and left unanswered.
    """

    _problem: str = PrivateAttr(default="")

    @classmethod
    def of(cls, raw: Mapping[str, Any], problem: str) -> InvalidCall:
        """The kept form of ``raw``, which failed validation with ``problem``."""
        item = cls.model_validate(dict(raw))
        item._problem = problem
        return item

    @property
    def problem(self) -> str:
        """What was wrong with the item, in one line."""
        return self._problem

    @property
    def call_id(self) -> str | None:
        """The call's ``call_id`` when it is a non-empty string, else ``None``."""
        value = self.raw.get("call_id")
        return value if isinstance(value, str) and value else None

    # What a call of its type says about itself, read from the received fields (see
    # ``ClientCallBase``): the dispatcher answers an InvalidCall like any call.

    @property
    def _family(self) -> type[ClientCallBase] | type[ToolSearchCall]:
        family = _CALL_FAMILIES.get(self.type or "")
        if family is None:
            raise ValueError(f"no output item type answers a {self.type!r} item")
        return family

    @property
    def tool_key(self) -> str:
        """Its call type (an invalid call is answered before any tool is looked up)."""
        return str(self.type)

    @property
    def label(self) -> str:
        """The tool name it carries (function and custom calls), else its family."""
        name, namespace = self.raw.get("name"), self.raw.get("namespace")
        if self._family.routed_by_name and isinstance(name, str) and name:
            return f"{namespace}.{name}" if isinstance(namespace, str) and namespace else name
        return str(self.type).removesuffix("_call")

    @property
    def runs_locally(self) -> bool:
        """Whether the client answers it: it has a ``call_id`` and is not a hosted call."""
        return self.call_id is not None and self._family.runs_locally_as_received(self.raw)

    @property
    def output_holds_text(self) -> bool:
        """Whether its family's output can carry words."""
        return self._family.output_holds_text

    def arguments_text(self, *, exact: bool = False) -> str:
        """The received item as JSON (cut at 2000 characters)."""
        text = json.dumps(self.raw, ensure_ascii=False, default=str)
        return text if len(text) <= 2000 else text[:2000] + "..."

    def failure_output(
        self, message: str, *, timed_out: bool = False
    ) -> ClientCallOutput | ToolSearchOutput:
        """The failed output of its family, echoing a ``max_output_length`` it asked for.

        Raises:
            ValueError: its type is not a client call type.
        """
        action = self.raw.get("action")
        cap = action.get("max_output_length") if isinstance(action, dict) else None
        cap = cap if isinstance(cap, int) and not isinstance(cap, bool) else None
        return self._family.failed_output(
            self.call_id or "", message, timed_out=timed_out, max_output_length=cap
        )


CallItem = ClientCall | ToolSearchCall | InvalidCall
"""An item the client answers as a call: a :data:`~sandloop.items.calls.ClientCall`, a tool
search run by the client, or a malformed call kept as an :class:`InvalidCall`. Each says the same
things about itself: ``label``, ``arguments_text()``, ``runs_locally``, ``failure_output()``,
``output_holds_text``, ``tool_key``."""


def is_call_item(item: object) -> TypeGuard[CallItem]:
    """Whether ``item`` is a call item (answered by the client when it ``runs_locally``)."""
    return isinstance(item, ClientCallBase | ToolSearchCall | InvalidCall)


_ITEM_CLASSES: dict[str, type[WireModel]] = {
    "message": Message,
    "reasoning": Reasoning,
    "compaction": Compaction,
    "compaction_trigger": CompactionTrigger,
    "item_reference": ItemReference,
    "function_call": FunctionCall,
    "function_call_output": FunctionCallOutput,
    "custom_tool_call": CustomToolCall,
    "custom_tool_call_output": CustomToolCallOutput,
    "shell_call": ShellCall,
    "shell_call_output": ShellCallOutput,
    "apply_patch_call": ApplyPatchCall,
    "apply_patch_call_output": ApplyPatchCallOutput,
    "local_shell_call": LocalShellCall,
    "local_shell_call_output": LocalShellCallOutput,
    "computer_call": ComputerCall,
    "computer_call_output": ComputerCallOutput,
    "web_search_call": WebSearchCall,
    "file_search_call": FileSearchCall,
    "code_interpreter_call": CodeInterpreterCall,
    "image_generation_call": ImageGenerationCall,
    "mcp_list_tools": McpListTools,
    "mcp_call": McpCall,
    "mcp_approval_request": McpApprovalRequest,
    "mcp_approval_response": McpApprovalResponse,
    "tool_search_call": ToolSearchCall,
    "tool_search_output": ToolSearchOutput,
    "additional_tools": AdditionalTools,
}


def _item_tag(value: Any) -> str:
    """Map wire data to its union tag: ``type`` when known, else the spec's shape rules."""
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind is None:
            # The spec lets messages and item references leave out ``type`` (§1.5).
            if "role" in value:
                return "message"
            if "id" in value and len(value) == 1:
                return "item_reference"
            return "unknown"
        return kind if isinstance(kind, str) and kind in _ITEM_CLASSES else "unknown"
    if isinstance(value, UnknownWireModel):
        return "unknown"
    kind = getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in _ITEM_CLASSES else "unknown"


#: Call types whose malformed items are kept as :class:`InvalidCall` rather than rejected.
_KEPT_WHEN_INVALID = frozenset({*CALL_OUTPUT_TYPES, "tool_search_call"})


def _keep_invalid_calls(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        if not (isinstance(value, Mapping) and value.get("type") in _KEPT_WHEN_INVALID):
            raise
        kind = value["type"]
        return InvalidCall.of(value, describe_validation_error(f"{kind!r} item", exc, tagged=True))


Item = Annotated[
    Annotated[Message, Tag("message")]
    | Annotated[Reasoning, Tag("reasoning")]
    | Annotated[Compaction, Tag("compaction")]
    | Annotated[CompactionTrigger, Tag("compaction_trigger")]
    | Annotated[ItemReference, Tag("item_reference")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[CustomToolCall, Tag("custom_tool_call")]
    | Annotated[CustomToolCallOutput, Tag("custom_tool_call_output")]
    | Annotated[ShellCall, Tag("shell_call")]
    | Annotated[ShellCallOutput, Tag("shell_call_output")]
    | Annotated[ApplyPatchCall, Tag("apply_patch_call")]
    | Annotated[ApplyPatchCallOutput, Tag("apply_patch_call_output")]
    | Annotated[LocalShellCall, Tag("local_shell_call")]
    | Annotated[LocalShellCallOutput, Tag("local_shell_call_output")]
    | Annotated[ComputerCall, Tag("computer_call")]
    | Annotated[ComputerCallOutput, Tag("computer_call_output")]
    | Annotated[WebSearchCall, Tag("web_search_call")]
    | Annotated[FileSearchCall, Tag("file_search_call")]
    | Annotated[CodeInterpreterCall, Tag("code_interpreter_call")]
    | Annotated[ImageGenerationCall, Tag("image_generation_call")]
    | Annotated[McpListTools, Tag("mcp_list_tools")]
    | Annotated[McpCall, Tag("mcp_call")]
    | Annotated[McpApprovalRequest, Tag("mcp_approval_request")]
    | Annotated[McpApprovalResponse, Tag("mcp_approval_response")]
    | Annotated[ToolSearchCall, Tag("tool_search_call")]
    | Annotated[ToolSearchOutput, Tag("tool_search_output")]
    | Annotated[AdditionalTools, Tag("additional_tools")]
    | Annotated[UnknownItem, Tag("unknown")],
    Discriminator(_item_tag),
    WrapValidator(_keep_invalid_calls),
]
"""Any input or output item, discriminated on ``type`` (see ``parse_item`` for the rules)."""

_ITEM_ADAPTER: TypeAdapter[Item] = TypeAdapter(Item)


def describe_validation_error(
    what: str, exc: ValidationError, *, tagged: bool = False, limit: int = 5
) -> str:
    """Summarise a pydantic error in one line: where each problem is and what it is.

    Args:
        what: What was being parsed, e.g. ``"'function_call' item"``.
        exc: The pydantic error.
        tagged: The error comes from a tagged union, whose tag leads every location.
        limit: How many problems to name.
    """
    problems = []
    for error in exc.errors(include_url=False)[:limit]:
        loc = error["loc"][1:] if tagged else error["loc"]
        where = ".".join(str(part) for part in loc) or "(top level)"
        problems.append(f"{where}: {error['msg']}")
    more = f" (and {exc.error_count() - limit} more)" if exc.error_count() > limit else ""
    return f"invalid {what}: " + "; ".join(problems) + more


def parse_item(data: Mapping[str, Any]) -> Item:
    """Parse one wire item.

    A dict without ``type`` but with ``role`` is a message; one with only ``id`` is an item
    reference; an unknown ``type`` becomes ``UnknownItem``.

    Raises:
        InvalidResponseError: a known item type with missing or malformed fields.
    """
    value = replace_lone_surrogates(data if isinstance(data, dict) else dict(data))
    try:
        return _ITEM_ADAPTER.validate_python(value, context=WIRE_CONTEXT)
    except ValidationError as exc:
        kind = value.get("type", "message" if "role" in value else "?")
        message = describe_validation_error(f"{kind!r} item", exc, tagged=True)
        raise InvalidResponseError(message) from exc


def parse_items(data: Iterable[Mapping[str, Any]]) -> list[Item]:
    """Parse a sequence of wire items (see ``parse_item``)."""
    return [parse_item(item) for item in data]


def dump_item(item: Item | Mapping[str, Any]) -> dict[str, Any]:
    """Serialise one item for a request.

    Unset fields are left out, fields explicitly set to ``None`` are sent as ``null``, and
    ``created_by`` is dropped at every level. ``UnknownItem`` (and a plain dict) is sent as it
    came, except for ``created_by`` on a plain dict.
    """
    if isinstance(item, UnknownWireModel):
        return item.raw
    if isinstance(item, Mapping):
        result: dict[str, Any] = strip_created_by(dict(item))
        return result
    stripped: dict[str, Any] = strip_created_by(item.to_wire())
    return stripped


def dump_items(items: Iterable[Item | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Serialise a sequence of items for a request (see ``dump_item``)."""
    return [dump_item(item) for item in items]
