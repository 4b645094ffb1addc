"""Stream events about message content and reasoning: parts, text deltas, refusals, summaries.

Part of the ``StreamEvent`` union (see ``events``). The loop turns the text deltas into its own
streaming events; ``response.output_item.done`` stays the authoritative final item.
"""

from __future__ import annotations

from typing import Any, Literal

from sandloop.items._base import StreamEventBase
from sandloop.items.content import ContentPart

__all__ = (
    "ResponseContentPartAddedEvent",
    "ResponseContentPartDoneEvent",
    "ResponseOutputTextAnnotationAddedEvent",
    "ResponseReasoningSummaryPartAddedEvent",
    "ResponseReasoningSummaryPartDoneEvent",
    "ResponseReasoningSummaryTextDeltaEvent",
    "ResponseReasoningSummaryTextDoneEvent",
    "ResponseReasoningTextDeltaEvent",
    "ResponseReasoningTextDoneEvent",
    "ResponseRefusalDeltaEvent",
    "ResponseRefusalDoneEvent",
    "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent",
)


class ResponseContentPartAddedEvent(StreamEventBase):
    """A content part of a message started."""

    type: Literal["response.content_part.added"] = "response.content_part.added"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    part: ContentPart


class ResponseContentPartDoneEvent(StreamEventBase):
    """A content part of a message is final."""

    type: Literal["response.content_part.done"] = "response.content_part.done"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    part: ContentPart


class ResponseTextDeltaEvent(StreamEventBase):
    """A fragment of output text."""

    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    delta: str
    logprobs: list[dict[str, Any]] | None = None


class ResponseTextDoneEvent(StreamEventBase):
    """The full text of an output text part."""

    type: Literal["response.output_text.done"] = "response.output_text.done"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    text: str
    logprobs: list[dict[str, Any]] | None = None


class ResponseOutputTextAnnotationAddedEvent(StreamEventBase):
    """An annotation (citation) was added to output text."""

    type: Literal["response.output_text.annotation.added"] = "response.output_text.annotation.added"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    annotation_index: int | None = None
    annotation: dict[str, Any] | None = None


class ResponseRefusalDeltaEvent(StreamEventBase):
    """A fragment of a refusal."""

    type: Literal["response.refusal.delta"] = "response.refusal.delta"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    delta: str


class ResponseRefusalDoneEvent(StreamEventBase):
    """The full refusal text."""

    type: Literal["response.refusal.done"] = "response.refusal.done"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    refusal: str


class ResponseReasoningSummaryPartAddedEvent(StreamEventBase):
    """A reasoning summary part started."""

    type: Literal["response.reasoning_summary_part.added"] = "response.reasoning_summary_part.added"
    item_id: str | None = None
    output_index: int | None = None
    summary_index: int | None = None
    part: ContentPart


class ResponseReasoningSummaryPartDoneEvent(StreamEventBase):
    """A reasoning summary part is final."""

    type: Literal["response.reasoning_summary_part.done"] = "response.reasoning_summary_part.done"
    item_id: str | None = None
    output_index: int | None = None
    summary_index: int | None = None
    part: ContentPart


class ResponseReasoningSummaryTextDeltaEvent(StreamEventBase):
    """A fragment of reasoning summary text."""

    type: Literal["response.reasoning_summary_text.delta"] = "response.reasoning_summary_text.delta"
    item_id: str | None = None
    output_index: int | None = None
    summary_index: int | None = None
    delta: str


class ResponseReasoningSummaryTextDoneEvent(StreamEventBase):
    """The full text of a reasoning summary part."""

    type: Literal["response.reasoning_summary_text.done"] = "response.reasoning_summary_text.done"
    item_id: str | None = None
    output_index: int | None = None
    summary_index: int | None = None
    text: str


class ResponseReasoningTextDeltaEvent(StreamEventBase):
    """A fragment of reasoning text."""

    type: Literal["response.reasoning_text.delta"] = "response.reasoning_text.delta"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    delta: str


class ResponseReasoningTextDoneEvent(StreamEventBase):
    """The full reasoning text of a part."""

    type: Literal["response.reasoning_text.done"] = "response.reasoning_text.done"
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    text: str
