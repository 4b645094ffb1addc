"""The custom ``apply_patch`` tool through the whole loop, in a real DockerSandbox.

A model without the hosted tool gets a custom tool with our Lark grammar; the scripted server
plays it over a real socket: a patch whose hunk does not match (the failure comes back as the
tool's output), then a corrected patch that adds, updates and renames files in one envelope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import lark
import pytest

from sandloop.client import ResponsesClient
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.loop import Agent, run
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.testing import RecordedRequest, ScriptedResponsesServer, custom_tool_call, message

pytestmark = pytest.mark.docker


WRONG = """*** Begin Patch
*** Add File: notes/todo.md
+- ship it
*** Update File: app.py
@@ def main():
-    print("hello")
+    print("hello, world")
*** End Patch
"""

RIGHT = """*** Begin Patch
*** Add File: notes/todo.md
+- ship it
*** Update File: app.py
*** Move to: src/app.py
@@ def main():
-    print("hi")
+    print("hello, world")
*** End Patch
"""


@pytest.fixture
async def sandbox(base_image: str, tmp_path: Path) -> AsyncIterator[DockerSandbox]:
    (tmp_path / "app.py").write_text('def main():\n    print("hi")\n')
    async with DockerSandbox(base_image, workspace=tmp_path) as sb:
        yield sb


def _output(request: RecordedRequest, call_id: str) -> str:
    [item] = [
        i
        for i in request.body["input"]
        if i.get("type") == "custom_tool_call_output" and i.get("call_id") == call_id
    ]
    assert isinstance(item["output"], str)
    return item["output"]


def _first(request: RecordedRequest) -> list[dict[str, Any]]:
    [tool] = request.body["tools"]
    assert (tool["type"], tool["name"]) == ("custom", "apply_patch")
    grammar = lark.Lark(tool["format"]["definition"], parser="lalr")
    grammar.parse(WRONG)  # what we are about to send is what the grammar allows
    grammar.parse(RIGHT)
    return [custom_tool_call("apply_patch", WRONG, call_id="call_wrong")]


def _second(request: RecordedRequest) -> list[dict[str, Any]]:
    text = _output(request, "call_wrong")
    assert text.startswith("apply_patch failed: app.py: hunk 1 did not apply")
    assert '2 |     print("hi")' in text
    return [custom_tool_call("apply_patch", RIGHT, call_id="call_right")]


def _third(request: RecordedRequest) -> list[dict[str, Any]]:
    assert _output(request, "call_right") == "A notes/todo.md\nR app.py -> src/app.py"
    return [message("Done.", phase="final_answer")]


async def test_custom_apply_patch_tool_round_trip(sandbox: DockerSandbox, tmp_path: Path) -> None:
    agent = Agent(model="gpt-test", tools=[ApplyPatchTool(as_custom=True)])
    async with (
        ScriptedResponsesServer([_first, _second, _third]) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        result = await run(agent, "Greet the world.", sandbox=sandbox, client=client)
    assert (result.status, result.turns, result.final_output) == ("completed", 3, "Done.")
    assert (tmp_path / "src/app.py").read_text() == 'def main():\n    print("hello, world")\n'
    assert (tmp_path / "notes/todo.md").read_text() == "- ship it\n"
    assert not (tmp_path / "app.py").exists()
