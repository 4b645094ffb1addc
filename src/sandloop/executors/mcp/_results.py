"""An MCP ``tools/call`` result as the output of a ``function_call``.

Part of ``executors.mcp``. A ``function_call_output`` holds text or a list of ``input_text`` /
``input_image`` parts (spec §3.1), so:

- text content is text; several parts are joined by blank lines when there is no image;
- an image (PNG, JPEG, GIF or WebP, valid base64) becomes an ``input_image`` part with a
  ``data:`` URL, and the output becomes a list of parts; any other image is described;
- audio, binary resources and resource links are described in words (the model cannot take
  them through a function output); an embedded text resource is its text;
- ``structuredContent`` is sent as JSON when the content has no text (a server that gives
  both puts the JSON serialisation in the text, as the MCP specification asks);
- ``isError`` makes the call fail: its text is the failure the model reads.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import mcp_types

from sandloop.errors import ToolError
from sandloop.executors.function import ToolOutput
from sandloop.items import InputImage, InputText

__all__ = ("IMAGE_TYPES", "tool_output")

#: Image types the Responses API takes in an ``input_image``.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def tool_output(result: mcp_types.CallToolResult) -> ToolOutput:
    """The ``output`` of the call's ``function_call_output``.

    Raises:
        ToolError: the result has ``isError`` set (its text is the message).
    """
    parts = [_part(block) for block in result.content]
    texts = [p for p in parts if isinstance(p, InputText)]
    if result.structured_content is not None and not texts:
        structured = json.dumps(result.structured_content, ensure_ascii=False)
        parts.insert(0, InputText(text=structured))
    if result.is_error:
        message = "\n\n".join(p.text for p in parts if isinstance(p, InputText))
        raise ToolError(message or "the MCP server reported an error without a message")
    if all(isinstance(p, InputText) for p in parts):
        return "\n\n".join(p.text for p in parts if isinstance(p, InputText))
    return parts


def _part(block: Any) -> InputText | InputImage:
    if isinstance(block, mcp_types.TextContent):
        return InputText(text=block.text)
    if isinstance(block, mcp_types.ImageContent):
        return _image(block.data, block.mime_type)
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return InputText(text=resource.text)
        kind = resource.mime_type or "binary"
        if kind in IMAGE_TYPES:
            return _image(resource.blob, kind)
        return InputText(
            text=f"[resource {resource.uri} ({kind}, {_size(resource.blob)}), not shown]"
        )
    if isinstance(block, mcp_types.ResourceLink):
        about = f": {block.description}" if block.description else ""
        return InputText(text=f"[resource link {block.uri} ({block.name}){about}]")
    if isinstance(block, mcp_types.AudioContent):
        return InputText(text=f"[audio ({block.mime_type}, {_size(block.data)}), not shown]")
    return InputText(text=f"[{getattr(block, 'type', 'unknown')} content, not shown]")


def _image(data: str, mime_type: str) -> InputText | InputImage:
    if mime_type not in IMAGE_TYPES:
        return InputText(text=f"[image of type {mime_type!r}, which cannot be shown]")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return InputText(text=f"[a {mime_type} image whose data is not valid base64, left out]")
    return InputImage(image_url=f"data:{mime_type};base64,{data}", detail="auto")


def _size(data: str) -> str:
    return f"about {len(data) * 3 // 4} bytes"
