"""Content parts: the pieces of message content and of function/custom tool outputs (spec §1.4).

Used by ``items`` (messages, reasoning) and ``calls`` (tool outputs). Annotations and logprobs are
kept as plain data: the loop never interprets them, it only carries them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag, TypeAdapter

from sandloop.items._base import WIRE_CONTEXT, UnknownWireModel, WireModel, type_tagger

__all__ = (
    "ContentPart",
    "InputFile",
    "InputImage",
    "InputText",
    "OutputText",
    "ReasoningText",
    "Refusal",
    "SummaryText",
    "UnknownContentPart",
    "parse_content_part",
)


class InputText(WireModel):
    """``{"type": "input_text", "text": ...}``."""

    type: Literal["input_text"] = "input_text"
    text: str


class InputImage(WireModel):
    """An image given by URL (also a ``data:`` URL) or by file id."""

    type: Literal["input_image"] = "input_image"
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class InputFile(WireModel):
    """A file given inline (base64 ``file_data``), by id or by URL."""

    type: Literal["input_file"] = "input_file"
    file_data: str | None = None
    file_id: str | None = None
    file_url: str | None = None
    filename: str | None = None
    detail: str | None = None


class OutputText(WireModel):
    """Model text inside an assistant message; annotations and logprobs are kept as data."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[dict[str, Any]] | None = None
    logprobs: list[dict[str, Any]] | None = None


class Refusal(WireModel):
    """The model declined to answer."""

    type: Literal["refusal"] = "refusal"
    refusal: str


class ReasoningText(WireModel):
    """Raw reasoning text inside a reasoning item's ``content``."""

    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class SummaryText(WireModel):
    """A reasoning summary part inside a reasoning item's ``summary``."""

    type: Literal["summary_text"] = "summary_text"
    text: str


class UnknownContentPart(UnknownWireModel):
    """A content part of a type this version does not know; kept and sent back unchanged."""


_PART_CLASSES: dict[str, type[WireModel]] = {
    "input_text": InputText,
    "input_image": InputImage,
    "input_file": InputFile,
    "output_text": OutputText,
    "refusal": Refusal,
    "reasoning_text": ReasoningText,
    "summary_text": SummaryText,
}

ContentPart = Annotated[
    Annotated[InputText, Tag("input_text")]
    | Annotated[InputImage, Tag("input_image")]
    | Annotated[InputFile, Tag("input_file")]
    | Annotated[OutputText, Tag("output_text")]
    | Annotated[Refusal, Tag("refusal")]
    | Annotated[ReasoningText, Tag("reasoning_text")]
    | Annotated[SummaryText, Tag("summary_text")]
    | Annotated[UnknownContentPart, Tag("unknown")],
    Discriminator(type_tagger(_PART_CLASSES)),
]
"""Any content part, discriminated on ``type``; unknown types become ``UnknownContentPart``."""

_PART_ADAPTER: TypeAdapter[ContentPart] = TypeAdapter(ContentPart)


def parse_content_part(data: Any) -> ContentPart:
    """Validate one content part from wire data (raises pydantic ``ValidationError``)."""
    return _PART_ADAPTER.validate_python(data, context=WIRE_CONTEXT)
