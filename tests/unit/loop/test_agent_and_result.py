"""Agent as plain data, RunResult round trips, final-answer selection, the transcript."""

from __future__ import annotations

import json

import pytest

from sandloop.client import ResponsesClient
from sandloop.errors import ConfigError
from sandloop.executors.function import tool
from sandloop.items import (
    FunctionCall,
    FunctionCallOutput,
    Message,
    OutputText,
    ShellCall,
    parse_item,
)
from sandloop.loop import Agent, AgentLoop, RunResult
from sandloop.loop.result import final_text
from sandloop.loop.transcript import Transcript, client_calls, to_items


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return key


def assistant(text: str, phase: str | None = None) -> Message:
    msg = Message(role="assistant", content=[OutputText(text=text)])
    if phase is not None:
        msg.phase = phase
    return msg


def test_agent_round_trips_through_json() -> None:
    agent = Agent(
        model="gpt-5.1",
        instructions="Be careful.",
        tools=[lookup, {"type": "web_search"}],
        max_turns=7,
        store=False,
        reasoning={"effort": "low"},
        request_options={"temperature": 0.2},
    )
    data = json.loads(json.dumps(agent.to_dict()))
    assert data["tools"][0]["tool"] == "function"
    assert data["tools"][0]["options"]["function"] == f"{__name__}:lookup"
    assert data["tools"][1] == {"type": "web_search"}
    again = Agent.from_dict(data)
    assert again == agent
    assert again.tools[0] is lookup
    assert again.registry.definitions() == agent.registry.definitions()


def test_agent_validates_when_built() -> None:
    @tool(name="lookup")
    def other(key: str) -> str:
        """Other."""
        return key

    with pytest.raises(ConfigError, match="duplicate tool name"):
        Agent(model="m", tools=[lookup, other])
    with pytest.raises(ConfigError, match="max_turns"):
        Agent(model="m", max_turns=0)
    with pytest.raises(ConfigError, match="background"):
        Agent(model="m", store=False, background=True)
    with pytest.raises(ConfigError, match="cannot import"):
        Agent.from_dict(
            {"model": "m", "tools": [{"tool": "function", "options": {"function": "no_x:t"}}]}
        )
    with pytest.raises(ConfigError, match="not a class"):
        Agent.from_dict({"model": "m", "tools": [{"tool": "json:dumps"}]})


def test_final_text_prefers_final_answer() -> None:
    items = [assistant("final", "final_answer"), assistant("later commentary", "commentary")]
    assert final_text(items) == "final"
    assert final_text([assistant("a"), assistant("b")]) == "b"
    assert final_text([Message(role="user", content="hi")]) == ""
    assert final_text([Message(role="assistant", content="plain")]) == "plain"


def test_result_round_trips() -> None:
    items = [*to_items("hi"), assistant("yo", "final_answer")]
    result = RunResult(run_id="r1", status="completed", final_output="yo", items=items, turns=1)
    result.history = list(items)
    data = json.loads(json.dumps(result.to_dict()))
    assert RunResult.from_dict(data).to_dict() == result.to_dict()


def test_transcript_chained_sends_only_new_items() -> None:
    t = Transcript(to_items("go"), stateless=False)
    assert t.request_input() == [{"type": "message", "role": "user", "content": "go"}]
    call = parse_item({"type": "function_call", "call_id": "c1", "name": "x", "arguments": "{}"})
    t.add_response("resp_1", [call])
    assert t.previous_response_id == "resp_1"
    assert t.request_input() == []
    t.add([FunctionCallOutput(call_id="c1", output="ok")])
    assert t.request_input() == [{"type": "function_call_output", "call_id": "c1", "output": "ok"}]


def test_transcript_stateless_reuses_dumped_dicts() -> None:
    t = Transcript(to_items("go"), stateless=True, previous_response_id="ignored")
    t.add_response("resp_1", [assistant("hi", "commentary")])
    first = t.request_input()
    second = t.request_input()
    assert first == second
    assert first[0] is second[0]  # dumped once, reused
    assert t.previous_response_id is None
    assert first[1]["phase"] == "commentary"


def test_settle_answers_every_open_call() -> None:
    t = Transcript(to_items("go"), stateless=True)
    calls = [
        FunctionCall(call_id="c1", name="a", arguments="{}"),
        parse_item({"type": "local_shell_call", "call_id": "l1", "action": {"command": ["ls"]}}),
        parse_item({"type": "mcp_approval_request", "id": "m1", "name": "x", "arguments": "{}"}),
    ]
    t.add_response("resp_1", calls)
    t.add([FunctionCallOutput(call_id="c1", output="done")])
    assert t.settle("stopped") == 2
    assert client_calls(t.history) == ([], [])
    kinds = [i.type for i in t.history[-2:]]
    assert kinds == ["local_shell_call_output", "mcp_approval_response"]


def test_hosted_shell_calls_are_not_client_calls() -> None:
    hosted = parse_item(
        {
            "type": "shell_call",
            "call_id": "s1",
            "action": {"commands": ["ls"]},
            "environment": {"type": "container_reference", "container_id": "c"},
        }
    )
    local = parse_item({"type": "shell_call", "call_id": "s2", "action": {"commands": ["ls"]}})
    untyped = parse_item(
        {"type": "shell_call", "call_id": "s3", "action": {"commands": ["ls"]}, "environment": {}}
    )
    calls, _ = client_calls([hosted, local, untyped])
    assert [c.call_id for c in calls] == ["s2", "s3"]
    # The loop and ShellTool agree on which calls are ours.
    shells = [c for c in (hosted, local, untyped) if isinstance(c, ShellCall)]
    assert [c.runs_locally for c in shells] == [False, True, True]


async def test_stateless_run_refuses_previous_response_id() -> None:
    # store=False resends the local history every turn, so a stored conversation to chain
    # onto would be dropped without a word: say so instead.
    async with ResponsesClient(base_url="http://127.0.0.1:9/v1") as client:
        with pytest.raises(ConfigError, match="store=False"):
            AgentLoop(
                Agent(model="m", store=False), "hi", client=client, previous_response_id="resp_1"
            )
        # Chained mode takes it.
        loop = AgentLoop(Agent(model="m"), "hi", client=client, previous_response_id="resp_1")
        assert loop.transcript.previous_response_id == "resp_1"


def test_a_malformed_input_item_is_a_usage_error() -> None:
    # The caller's mistake, not a server answer we could not read (InvalidResponseError).
    with pytest.raises(ConfigError, match=r"input item 1: .*call_id"):
        to_items([{"role": "user", "content": "hi"}, {"type": "function_call_output"}])


def test_agent_from_dict_names_unknown_and_missing_fields() -> None:
    # Plain data from another process or a file: a typo is a clear ConfigError, not a TypeError.
    with pytest.raises(ConfigError, match=r"unknown Agent field\(s\): max_turn"):
        Agent.from_dict({"model": "m", "max_turn": 3})
    with pytest.raises(ConfigError, match="needs 'model'"):
        Agent.from_dict({"tools": []})


def test_settling_a_computer_call_says_why_in_words() -> None:
    # A computer call's output holds only a (blank) screenshot: the reason must follow it in a
    # message, as the dispatcher does for failed calls, or a resumed model sees nothing.
    t = Transcript(to_items("go"), stateless=True)
    call = parse_item(
        {"type": "computer_call", "call_id": "k1", "action": {"type": "screenshot"},
         "pending_safety_checks": []}
    )  # fmt: skip
    t.add_response("resp_1", [call])
    t.settle("Not run: the run was cancelled.")
    output, note = t.history[-2:]
    assert output.type == "computer_call_output"
    assert isinstance(note, Message)
    assert note.role == "developer"
    assert "Not run: the run was cancelled." in str(note.content)
    assert client_calls(t.history) == ([], [])


def test_result_from_dict_names_what_is_missing() -> None:
    data = RunResult(run_id="r1", status="completed", final_output="", items=[]).to_dict()
    del data["history"]
    with pytest.raises(ConfigError, match="history"):
        RunResult.from_dict(data)


def test_built_in_tools_keep_their_options_through_json() -> None:
    from sandloop.executors import ApplyPatchTool, ComputerTool, LocalShellTool, ShellTool

    tools = [
        ShellTool(default_timeout=30, max_output_length=2000, needs_approval=True),
        LocalShellTool(max_timeout=60, default_timeout=10, allow_user=True),
        ApplyPatchTool(as_custom=True, timeout=5.0),
        ComputerTool(preview=True, display_size=(1024, 768), environment="browser"),
    ]
    agent = Agent(model="m", tools=tools)
    again = Agent.from_dict(json.loads(json.dumps(agent.to_dict())))
    assert [type(t) for t in again.tools] == [type(t) for t in tools]
    for before, after in zip(tools, again.tools, strict=True):
        assert after.options() == before.options()  # type: ignore[attr-defined]
    assert again.registry.definitions() == agent.registry.definitions()
    assert again.tools[0].limits == tools[0].limits  # type: ignore[attr-defined]


def test_a_computer_tool_over_a_user_computer_is_not_data() -> None:
    from sandloop.executors import ComputerTool

    class Screen:
        display_size = (800, 600)
        environment = "linux"

        async def screenshot(self) -> bytes:
            return b""

        async def _act(self, *args: object, **kwargs: object) -> None: ...

        click = double_click = drag = keypress = move = scroll = type = wait = _act

    tool_ = ComputerTool(Screen())
    with pytest.raises(ConfigError, match="cannot be described as data"):
        Agent(model="m", tools=[tool_]).to_dict()


def test_an_unknown_option_of_a_function_tool_is_refused() -> None:
    options = {"function": f"{__name__}:lookup", "a": 1}
    with pytest.raises(ConfigError, match="no option"):
        Agent.from_dict({"model": "m", "tools": [{"tool": "function", "options": options}]})
