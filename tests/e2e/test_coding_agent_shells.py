"""The shell tools through the whole loop: hosted shell calls are left alone, local ones run.

A response may mix a ``shell_call`` for a hosted container (which arrives with its own
``shell_call_output``), a local ``shell_call`` and a ``local_shell_call``. Only the local ones
may run, each answered exactly once; the hosted call's command must never run here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandloop.client import ResponsesClient
from sandloop.executors.local_shell import LocalShellTool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, run
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    TurnLike,
    local_shell_call,
    message,
    shell_call,
)

HOSTED_CALL = {
    "type": "shell_call",
    "id": "sh_hosted",
    "call_id": "call_hosted",
    "status": "completed",
    "action": {"commands": ["touch hosted-ran"], "timeout_ms": None, "max_output_length": None},
    "environment": {"type": "container_reference", "container_id": "cntr_abc"},
}
HOSTED_OUTPUT = {
    "type": "shell_call_output",
    "id": "sho_hosted",
    "call_id": "call_hosted",
    "status": "completed",
    "output": [
        {"stdout": "ran upstream\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}
    ],
    "max_output_length": None,
}


def _outputs(request: RecordedRequest) -> dict[str, dict[str, Any]]:
    """Output items of the request by the call id they answer."""
    found: dict[str, dict[str, Any]] = {}
    for item in request.body["input"]:
        kind = str(item.get("type"))
        if kind.endswith("_output"):
            key = item["id"] if kind == "local_shell_call_output" else item["call_id"]
            assert key not in found, f"two outputs for {key}"
            found[key] = item
    return found


@pytest.mark.parametrize("stateless", [False, True], ids=["previous_response_id", "stateless"])
async def test_hosted_calls_are_not_run_and_local_ones_are(tmp_path: Path, stateless: bool) -> None:
    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        outputs = _outputs(request)
        if stateless:  # the hosted pair is replayed unchanged, answered once, by the API
            assert outputs.pop("call_hosted")["output"][0]["stdout"] == "ran upstream\n"
        assert set(outputs) == {"call_local", "call_ls"}
        local = outputs["call_local"]["output"]
        assert local[0]["stdout"] == "local\n"
        assert local[1]["outcome"] == {"type": "timeout"}
        body = json.loads(outputs["call_ls"]["output"])
        assert body == {"stdout": "1 /tmp\n", "stderr": "", "exit_code": 0, "timed_out": False}
        return [message("done", phase="final_answer")]

    script: list[TurnLike] = [
        [
            HOSTED_CALL,
            HOSTED_OUTPUT,
            shell_call(["echo local", "sleep 30"], timeout_ms=300, call_id="call_local"),
            local_shell_call(
                ["bash", "-c", 'echo "$X $(pwd)"'],
                env={"X": "1"},
                working_directory="/tmp",
                call_id="call_ls",
            ),
        ],
        check,
    ]
    agent = Agent(model="gpt-test", tools=[ShellTool(), LocalShellTool()], store=not stateless)
    async with (
        LocalSandbox(tmp_path) as sandbox,
        ScriptedResponsesServer(script) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        result = await run(agent, "go", sandbox=sandbox, client=client)
    assert result.final_output == "done"
    assert not (tmp_path / "hosted-ran").exists()
    answered = [i for i in result.items if getattr(i, "call_id", None) == "call_hosted"]
    assert [i.type for i in answered] == ["shell_call", "shell_call_output"]
