"""The message form of traced content: text cut, images left out, calls and outputs paired."""

from __future__ import annotations

from typing import Any

from sandloop.loop import _trace_content as content


def test_long_text_is_cut_and_says_how_much_was_left_out() -> None:
    text = "x" * (content.MAX_TEXT + 5)
    cut = content.cut(text)
    assert cut.startswith("x" * content.MAX_TEXT)
    assert cut.endswith("... [5 more characters not recorded]")
    assert content.cut("short") == "short"


def test_items_become_genai_messages_without_image_data() -> None:
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "what is on screen?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
        ]},
        {"type": "computer_call", "call_id": "c1", "action": {"type": "screenshot"}},
        {"type": "computer_call_output", "call_id": "c1",
         "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"}},
        {"type": "custom_tool_call", "call_id": "c2", "name": "sql", "input": "select 1"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking"}]},
    ]  # fmt: skip
    user, call, output, custom, thought = content.input_messages(items)
    assert user["parts"] == [
        {"type": "text", "content": "what is on screen?"},
        {"type": "input_image"},
    ]
    assert call["parts"] == [
        {"type": "tool_call", "id": "c1", "name": "computer", "arguments": {"type": "screenshot"}}
    ]
    assert output["role"] == "tool"
    assert output["parts"][0]["result"] == {"type": "computer_screenshot", "image_url": "[image]"}
    assert custom["parts"][0]["arguments"] == "select 1"
    assert thought["parts"] == [{"type": "reasoning", "content": "thinking"}]


def test_an_output_is_one_message_with_its_finish_reason() -> None:
    (answer,) = content.output_messages(
        [{"type": "message", "role": "assistant", "content": "hi"}], "stop"
    )
    assert answer == {
        "role": "assistant", "parts": [{"type": "text", "content": "hi"}], "finish_reason": "stop"
    }  # fmt: skip
