"""How each kind of MCP tool result content reaches the model (``function_call_output``)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sandloop.errors import ToolError
from sandloop.items import InputImage, InputText

mcp_types = pytest.importorskip("mcp_types")
from sandloop.executors.mcp._results import tool_output  # noqa: E402

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


def result(*content: Any, **fields: Any) -> Any:
    return mcp_types.CallToolResult(content=list(content), **fields)


def test_text_parts_are_joined() -> None:
    out = tool_output(result(mcp_types.TextContent(text="a"), mcp_types.TextContent(text="b")))
    assert out == "a\n\nb"


def test_an_image_makes_a_list_of_parts() -> None:
    out = tool_output(
        result(
            mcp_types.TextContent(text="see"),
            mcp_types.ImageContent(data=PNG, mime_type="image/png"),
        )
    )
    assert out == [
        InputText(text="see"),
        InputImage(image_url=f"data:image/png;base64,{PNG}", detail="auto"),
    ]


@pytest.mark.parametrize(
    ("data", "mime", "words"),
    [
        ("not base64!!", "image/png", "not valid base64"),
        (PNG, "image/x-icon", "cannot be shown"),
    ],
)
def test_images_the_api_would_refuse_are_described(data: str, mime: str, words: str) -> None:
    out = tool_output(result(mcp_types.ImageContent(data=data, mime_type=mime)))
    assert isinstance(out, str)
    assert words in out


def test_resources_audio_and_links_are_described_or_inlined() -> None:
    blocks = [
        mcp_types.EmbeddedResource(
            resource=mcp_types.TextResourceContents(uri="file:///a.txt", text="inline text")
        ),
        mcp_types.EmbeddedResource(
            resource=mcp_types.BlobResourceContents(
                uri="file:///b.bin", blob="AAAA", mime_type="application/zip"
            )
        ),
        mcp_types.AudioContent(data="AAAA", mime_type="audio/wav"),
        mcp_types.ResourceLink(uri="file:///c", name="c", description="a file"),
    ]
    out = tool_output(result(*blocks))
    assert isinstance(out, str)
    texts = out.split("\n\n")
    assert texts[0] == "inline text"
    assert texts[1] == "[resource file:///b.bin (application/zip, about 3 bytes), not shown]"
    assert texts[2] == "[audio (audio/wav, about 3 bytes), not shown]"
    assert texts[3] == "[resource link file:///c (c): a file]"


def test_structured_content_is_the_output_when_there_is_no_text() -> None:
    assert tool_output(result(structured_content={"t": 1})) == '{"t": 1}'
    both = result(mcp_types.TextContent(text='{"t": 1}'), structured_content={"t": 1})
    assert tool_output(both) == '{"t": 1}'  # the text already is its serialisation


def test_is_error_raises_with_the_text() -> None:
    with pytest.raises(ToolError, match="no such repo"):
        tool_output(result(mcp_types.TextContent(text="no such repo"), is_error=True))
    with pytest.raises(ToolError, match="without a message"):
        tool_output(result(is_error=True))


def test_a_listed_tool_becomes_a_function_definition_within_its_caps() -> None:
    from sandloop.executors.mcp._tool import MAX_DESCRIPTION, _definition

    listed = mcp_types.Tool(name="t", description="d" * 10_000, input_schema={"type": "object"})
    out = _definition("srv__t", listed, defer_loading=True)
    assert out == {
        "type": "function",
        "name": "srv__t",
        "description": "d" * MAX_DESCRIPTION,
        "parameters": {"type": "object", "properties": {}},
        "strict": False,
        "defer_loading": True,
    }
