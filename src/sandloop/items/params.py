"""Request bodies: ``POST /responses`` (spec §1.2) and ``POST /responses/compact`` (spec §6.1).

The loop builds a ``ResponseCreateParams`` per turn and the client sends ``to_request()``. The
scripted test server parses incoming bodies with the same models. Options not modelled here are
accepted as extra fields and sent as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field

from sandloop.items._base import WireModel, strip_created_by
from sandloop.items.items import Item, dump_item
from sandloop.items.tools import ToolParam

__all__ = ("CompactParams", "ResponseCreateParams")

# Plain dicts are accepted where items and tools go; they are parsed into models when they fit
# (left to right), and otherwise kept as given.
_InputItem = Annotated[Item | dict[str, Any], Field(union_mode="left_to_right")]
_Tool = Annotated[ToolParam | dict[str, Any], Field(union_mode="left_to_right")]


def _dump_input(value: Any) -> Any:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [dump_item(item) for item in value]
    return value


class _RequestBody(WireModel):
    """Shared serialisation of request bodies."""

    def to_request(self) -> dict[str, Any]:
        """The JSON body to send: unset fields left out, items in request form (no created_by)."""
        body = self.to_wire()
        if "input" in body:
            body["input"] = _dump_input(getattr(self, "input", None))
        if "tools" in body:
            body["tools"] = strip_created_by(body["tools"])
        return body


class ResponseCreateParams(_RequestBody):
    """The body of ``POST /responses``. Only the fields you set are sent."""

    model: str | None = None
    input: str | Sequence[_InputItem] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    store: bool | None = None
    include: list[str] | None = None
    background: bool | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    context_management: list[dict[str, Any]] | None = None
    tools: Sequence[_Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: int | None = None
    max_output_tokens: int | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_logprobs: int | None = None
    metadata: dict[str, str] | None = None
    truncation: str | None = None
    prompt: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    service_tier: str | None = None
    safety_identifier: str | None = None
    user: str | None = None


class CompactParams(_RequestBody):
    """The body of ``POST /responses/compact``."""

    model: str | None = None
    input: str | Sequence[_InputItem] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    service_tier: str | None = None
