"""The Response and CompactedResponse objects, and token usage (spec §2, §6).

``client`` parses server bodies into these with ``parse_response`` / ``parse_compacted_response``
(which turn validation failures into ``InvalidResponseError``); the loop reads ``output``,
``status``, ``usage`` and ``output_text``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from sandloop.errors import InvalidResponseError
from sandloop.items._base import WireModel
from sandloop.items.content import OutputText
from sandloop.items.items import Item, Message, describe_validation_error
from sandloop.items.tools import ToolParam

_D = TypeVar("_D", bound=BaseModel)

__all__ = (
    "CompactedResponse",
    "IncompleteDetails",
    "InputTokensDetails",
    "OutputTokensDetails",
    "Response",
    "ResponseErrorDetail",
    "Usage",
    "parse_compacted_response",
    "parse_response",
)


class InputTokensDetails(WireModel):
    """Breakdown of the input tokens: read from the prompt cache, and written to it."""

    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(WireModel):
    """Breakdown of the output tokens."""

    reasoning_tokens: int = 0


def _sum_details(kind: type[_D], a: _D | None, b: _D | None) -> _D | None:
    """Add two details objects field by field, extra integer fields included."""
    if a is None or b is None:
        return a if b is None else b
    left, right = a.model_dump(), b.model_dump()
    merged: dict[str, Any] = {}
    for key in left.keys() | right.keys():
        x, y = left.get(key, 0), right.get(key, 0)
        both_ints = isinstance(x, int) and isinstance(y, int)
        merged[key] = x + y if both_ints else (y if key in right else x)
    return kind.model_validate(merged)


class Usage(WireModel):
    """Token usage of one response; ``+`` sums usages across turns (details included)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None

    @classmethod
    def zero(cls) -> Usage:
        """A usage of nothing, the start of a sum."""
        return cls(input_tokens=0, output_tokens=0, total_tokens=0)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            input_tokens_details=_sum_details(
                InputTokensDetails, self.input_tokens_details, other.input_tokens_details
            ),
            output_tokens_details=_sum_details(
                OutputTokensDetails, self.output_tokens_details, other.output_tokens_details
            ),
        )


class ResponseErrorDetail(WireModel):
    """Why a response failed (``status == "failed"``)."""

    code: str | None = None
    message: str | None = None


class IncompleteDetails(WireModel):
    """Why a response stopped early (``status == "incomplete"``)."""

    reason: str | None = None


class Response(WireModel):
    """A model response (spec §2). Every field is optional when parsing."""

    id: str | None = None
    object: str | None = None
    # A number on the wire; one openapi example sends an ISO string, so that is accepted too.
    created_at: int | float | str | None = None
    status: str | None = None
    completed_at: int | float | None = None
    error: ResponseErrorDetail | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | list[Item] | None = None
    output: list[Item] = Field(default_factory=list)
    model: str | None = None
    metadata: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: str | dict[str, Any] | None = None
    tools: list[ToolParam] | None = None
    background: bool | None = None
    conversation: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    previous_response_id: str | None = None
    prompt: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    reasoning: dict[str, Any] | None = None
    safety_identifier: str | None = None
    service_tier: str | None = None
    store: bool | None = None
    text: dict[str, Any] | None = None
    top_logprobs: int | None = None
    truncation: str | None = None
    usage: Usage | None = None
    user: str | None = None

    @property
    def output_text(self) -> str:
        """The text of every ``output_text`` part of the assistant messages, joined."""
        return "".join(
            part.text
            for item in self.output
            if isinstance(item, Message) and item.role == "assistant"
            for part in (() if isinstance(item.content, str) else item.content)
            if isinstance(part, OutputText)
        )


class CompactedResponse(WireModel):
    """The result of ``POST /responses/compact``: use ``output`` in place of the old history."""

    id: str | None = None
    object: str | None = "response.compaction"
    created_at: int | float | None = None
    output: list[Item] = Field(default_factory=list)
    usage: Usage | None = None


def parse_response(data: Mapping[str, Any]) -> Response:
    """Parse a Response body.

    Raises:
        InvalidResponseError: the body is not a Response (a known item with bad fields, ...).
    """
    try:
        return Response.model_validate(data)
    except ValidationError as exc:
        raise InvalidResponseError(describe_validation_error("response", exc)) from exc


def parse_compacted_response(data: Mapping[str, Any]) -> CompactedResponse:
    """Parse a ``POST /responses/compact`` body (raises ``InvalidResponseError``)."""
    try:
        return CompactedResponse.model_validate(data)
    except ValidationError as exc:
        raise InvalidResponseError(describe_validation_error("compacted response", exc)) from exc
