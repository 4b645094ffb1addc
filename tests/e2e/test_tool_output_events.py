"""A running command's output as run events (``ToolOutputDelta``), end to end: the scripted
server over a real socket, the loop, the shell and local_shell tools, a LocalSandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandloop.cli.display import JsonDisplay
from sandloop.client import ResponsesClient
from sandloop.executors import LocalShellTool, ShellTool
from sandloop.executors._commands import output_decoder
from sandloop.loop import Agent, RunEvent, ToolCallFinished, ToolOutputDelta, run
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import ScriptedResponsesServer, local_shell_call, message, shell_call

pytestmark = pytest.mark.timeout(60)

#: Prints, then waits for a file that only the event handler creates.
WAITS = "echo one; echo two >&2; while [ ! -e go ]; do sleep 0.02; done; echo three"


async def _run(tmp_path: Path, tools: list[Any], call: dict[str, Any]) -> list[RunEvent]:
    events: list[RunEvent] = []

    async def on_event(event: RunEvent) -> None:
        events.append(event)
        if isinstance(event, ToolOutputDelta) and "one" in event.delta:
            (tmp_path / "go").touch()  # the command can end only after this

    turns = [[call], [message("done", phase="final_answer")]]
    async with (
        ScriptedResponsesServer(turns) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
        LocalSandbox(tmp_path) as sandbox,
    ):
        agent = Agent(model="gpt-test", tools=tools)
        result = await run(agent, "go", sandbox=sandbox, client=client, on_event=on_event)
    assert result.status == "completed"
    return events


async def test_shell_output_arrives_as_events_before_the_call_finishes(tmp_path: Path) -> None:
    events = await _run(
        tmp_path, [ShellTool()], shell_call([WAITS, "echo second"], call_id="call_1")
    )
    deltas = [e for e in events if isinstance(e, ToolOutputDelta)]
    finished = next(i for i, e in enumerate(events) if isinstance(e, ToolCallFinished))
    assert all(events.index(d) < finished for d in deltas)
    first = [d for d in deltas if d.command == 0]
    assert "".join(d.delta for d in first if d.stream == "stdout") == "one\nthree\n"
    assert "".join(d.delta for d in first if d.stream == "stderr") == "two\n"
    assert [d.delta for d in deltas if d.command == 1] == ["second\n"]
    assert {(d.call_id, d.tool, d.turn) for d in deltas} == {("call_1", "shell", 1)}


async def test_local_shell_output_arrives_as_events(tmp_path: Path) -> None:
    call = local_shell_call(["sh", "-c", WAITS], call_id="call_2")
    events = await _run(tmp_path, [LocalShellTool()], call)
    deltas = [e for e in events if isinstance(e, ToolOutputDelta)]
    assert "".join(d.delta for d in deltas if d.stream == "stdout") == "one\nthree\n"
    assert {(d.call_id, d.tool, d.command) for d in deltas} == {("call_2", "local_shell", 0)}


async def test_the_json_display_prints_the_deltas() -> None:
    out: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            out.append(text)

        def flush(self) -> None:
            pass

    JsonDisplay(Sink()).event(ToolOutputDelta("r", 1, "c1", "shell", 0, "stdout", "hi\n"))
    assert json.loads("".join(out)) == {
        "event": "tool_output_delta",
        "run_id": "r",
        "turn": 1,
        "call_id": "c1",
        "tool": "shell",
        "command": 0,
        "stream": "stdout",
        "delta": "hi\n",
    }


async def test_a_character_split_between_two_chunks_stays_whole() -> None:
    said: list[tuple[str, str]] = []

    async def report(stream: str, text: str) -> None:
        said.append((stream, text))

    on_output = output_decoder(report)
    euro = "€".encode()
    await on_output("stdout", b"price: " + euro[:1])
    assert said == [("stdout", "price: ")]  # the euro's first byte waits for the rest
    await on_output("stdout", euro[1:] + b"5\n")
    assert "".join(text for _, text in said) == "price: €5\n"
    await on_output("stderr", b"\xffok")
    assert said[-1] == ("stderr", "\ufffdok")
