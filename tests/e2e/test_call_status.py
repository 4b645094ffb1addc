"""A call whose output says it failed is reported failed by its ToolCallFinished event."""

from __future__ import annotations

from pathlib import Path

import sandloop
from sandloop.client import ResponsesClient
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.loop import Agent, RunEvent, ToolCallFinished
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import ScriptedResponsesServer, apply_patch_call, message


async def test_a_patch_that_does_not_apply_finishes_as_failed(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    script = [
        [apply_patch_call("update_file", "a.py", "@@\n-y = 2\n+y = 3\n")],
        [message("it did not apply", phase="final_answer")],
    ]
    seen: list[RunEvent] = []
    agent = Agent(model="gpt-test", tools=[ApplyPatchTool()])
    async with (
        LocalSandbox(tmp_path) as sandbox,
        ScriptedResponsesServer(script) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        await sandloop.run(agent, "patch it", sandbox=sandbox, client=client, on_event=seen.append)
    (finished,) = [e for e in seen if isinstance(e, ToolCallFinished)]
    assert finished.status == "failed"
    assert finished.error is not None
    assert "a.py" in finished.error
    assert (tmp_path / "a.py").read_text() == "x = 1\n"
