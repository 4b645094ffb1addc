"""Typed final output (``Agent(output_type=...)``) against the scripted server over a socket.

The server checks every request's ``text.format`` (a strict schema must be closed, every
property required) as well as the conversation, in chained and stateless mode.
"""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typed_output_support import Forecast, ForecastDict, ForecastRecord

from sandloop import RunSpec
from sandloop.client import ResponsesClient
from sandloop.errors import BadRequestError, ConfigError, OutputValidationError
from sandloop.executors.function import tool
from sandloop.loop import Agent, RunResult, resume, run
from sandloop.loop.journal import read_journal
from sandloop.testing import ScriptedResponsesServer, function_call, message

GOOD = '{"city": "Oslo", "high_c": 12, "summary": null}'
BAD = '{"city": "Oslo", "high_c": 99, "summary": null}'  # high_c is at most 60


@tool
def lookup(city: str) -> str:
    """Look up the weather station readings of a city.

    Args:
        city: The city.
    """
    return f"{city}: 12 C, cloudy"


async def _run(agent: Agent, turns: list[Any], **options: Any) -> tuple[RunResult, Any]:
    with ScriptedResponsesServer(turns) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            result = await run(agent, "weather in Oslo?", client=client, **options)
    return result, server


def _bodies(server: ScriptedResponsesServer) -> list[dict[str, Any]]:
    return [r.body for r in server.create_requests]


@pytest.mark.parametrize("store", [True, False], ids=["chained", "stateless"])
@pytest.mark.parametrize("kind", [Forecast, ForecastRecord, ForecastDict])
async def test_a_valid_answer_becomes_an_instance_of_each_kind_of_type(
    kind: Any, store: bool
) -> None:
    agent = Agent(model="gpt-5.1", tools=[lookup], output_type=kind, store=store)
    turns = [[function_call("lookup", {"city": "Oslo"})], [message(GOOD, phase="final_answer")]]
    result, server = await _run(agent, turns)
    expected = {"city": "Oslo", "high_c": 12, "summary": None}
    if kind is ForecastDict:
        assert result.final_output == expected
    else:
        assert isinstance(result.final_output, kind)
        assert result.final_output == kind(**expected)
    assert result.output_text == GOOD
    for body in _bodies(server):  # every request asks for the schema, the server accepted it
        fmt = body["text"]["format"]
        assert fmt["type"] == "json_schema"
        assert fmt["strict"] is True
        assert fmt["name"] == kind.__name__
        assert fmt["schema"]["required"] == ["city", "high_c", "summary"]
        assert fmt["schema"]["additionalProperties"] is False


async def test_an_invalid_answer_raises_with_the_raw_text_and_the_partial_result() -> None:
    agent = Agent(model="gpt-5.1", output_type=Forecast)
    with pytest.raises(OutputValidationError, match="not a valid Forecast: high_c") as caught:
        await _run(agent, [[message(BAD, phase="final_answer")]])
    error = caught.value
    assert error.text == BAD
    assert [e["loc"] for e in error.errors] == [["high_c"]]
    assert error.errors[0]["type"] == "less_than_equal"
    assert error.result.status == "invalid_output"
    assert error.result.final_output == BAD  # not an instance: it did not validate
    assert error.result.turns == 1
    copy = pickle.loads(pickle.dumps(error))  # survives a process pool
    assert (copy.text, copy.errors) == (error.text, error.errors)


async def test_text_that_is_not_json_is_an_invalid_answer() -> None:
    agent = Agent(model="gpt-5.1", output_type=Forecast)
    with pytest.raises(OutputValidationError, match="not valid JSON") as caught:
        await _run(agent, [[message("It is 12 degrees in Oslo.")]])
    assert caught.value.errors[0]["type"] == "json_invalid"


async def test_an_answer_nested_too_deeply_is_invalid_not_a_crash() -> None:
    # The model's text is hostile input: a nesting too deep for json.loads must fail the
    # answer (RecursionError is no ValueError), not escape from the run as a crash.
    agent = Agent(model="gpt-5.1", output_type=Forecast)
    deep = "[" * 200_000 + "]" * 200_000
    with pytest.raises(OutputValidationError, match="nested too deeply"):
        await _run(agent, [[message(deep)]])


@pytest.mark.parametrize("store", [True, False], ids=["chained", "stateless"])
async def test_output_retries_tell_the_model_what_was_wrong_and_ask_again(store: bool) -> None:
    agent = Agent(model="gpt-5.1", output_type=Forecast, output_retries=1, store=store)
    turns = [[message(BAD, phase="final_answer")], [message(GOOD, phase="final_answer")]]
    result, server = await _run(agent, turns)
    assert result.final_output == Forecast(city="Oslo", high_c=12)
    assert result.turns == 2
    second = _bodies(server)[1]
    retry = second["input"][-1]
    assert retry["role"] == "user"
    text = retry["content"] if isinstance(retry["content"], str) else retry["content"][0]["text"]
    assert "- high_c: Input should be less than or equal to 60" in text
    assert BAD in text
    if store:
        assert second["previous_response_id"] == result.responses[0].id
        assert len(second["input"]) == 1
    else:
        assert "previous_response_id" not in second
        assert len(second["input"]) == 3  # the question, the bad answer, the retry message


async def test_when_the_retries_are_used_up_the_error_says_so() -> None:
    agent = Agent(model="gpt-5.1", output_type=Forecast, output_retries=2)
    turns = [[message(BAD)], [message("not json")], [message(BAD)]]
    with ScriptedResponsesServer(turns) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(OutputValidationError) as caught:
                await run(agent, "weather in Oslo?", client=client)
        assert len(server.create_requests) == 3
    assert caught.value.result.turns == 3
    assert caught.value.text == BAD
    # The history answers nothing and can be sent again; it holds both retry messages.
    users = [i for i in caught.value.result.items if getattr(i, "role", None) == "user"]
    assert len(users) == 3


async def test_a_streamed_run_is_typed_too() -> None:
    agent = Agent(model="gpt-5.1", output_type=Forecast)
    result, _ = await _run(agent, [[message(GOOD)]], stream=True)
    assert result.final_output == Forecast(city="Oslo", high_c=12)


async def test_a_typed_result_round_trips_as_json() -> None:
    agent = Agent(model="gpt-5.1", output_type=Forecast)
    result, _ = await _run(agent, [[message(GOOD)]])
    data = json.loads(json.dumps(result.to_dict()))
    assert data["final_output"] == {"city": "Oslo", "high_c": 12, "summary": None}
    assert data["output_text"] == GOOD
    assert RunResult.from_dict(data).output_text == GOOD


async def test_a_run_spec_names_the_output_type_and_rebuilds_it() -> None:
    agent = Agent(model="gpt-5.1", output_type=ForecastRecord, output_retries=2)
    data = json.loads(json.dumps(RunSpec(agent, "weather?").to_dict()))
    assert data["agent"]["output_type"] == "typed_output_support:ForecastRecord"
    rebuilt = RunSpec.from_dict(data)
    assert rebuilt.agent.output_type is ForecastRecord
    assert rebuilt.agent.output_retries == 2
    result, _ = await _run(rebuilt.agent, [[message(GOOD)]])
    assert result.final_output == ForecastRecord("Oslo", 12)


def test_a_run_spec_refuses_an_output_type_another_process_cannot_import() -> None:
    @dataclass
    class Local:
        city: str

    with pytest.raises(ConfigError, match=r"output_type Local cannot be described.*closure"):
        RunSpec(Agent(model="gpt-5.1", output_type=Local), "hi").to_dict()
    data = RunSpec(Agent(model="gpt-5.1"), "hi").to_dict()
    data["agent"]["output_type"] = "typed_output_support:Nowhere"
    with pytest.raises(ConfigError, match="cannot import 'typed_output_support:Nowhere'"):
        RunSpec.from_dict(data)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"output_type": int}, "must be a pydantic model, a dataclass or a TypedDict"),
        ({"output_type": list[Forecast]}, "must be a pydantic model"),
        ({"output_retries": 2}, "output_retries needs an output_type"),
        ({"output_type": Forecast, "output_retries": -1}, "must not be negative"),
    ],
)
def test_an_output_type_that_cannot_work_is_refused_up_front(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        Agent(model="gpt-5.1", **options)


async def test_a_text_format_given_twice_is_refused_before_any_request() -> None:
    agent = Agent(
        model="gpt-5.1",
        output_type=Forecast,
        request_options={"text": {"format": {"type": "text"}}},
    )
    with ScriptedResponsesServer([]) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(ConfigError, match="remove 'format'"):
                await run(agent, "hi", client=client)


async def test_verbosity_is_kept_next_to_the_format() -> None:
    agent = Agent(
        model="gpt-5.1", output_type=Forecast, request_options={"text": {"verbosity": "low"}}
    )
    _, server = await _run(agent, [[message(GOOD)]])
    assert _bodies(server)[0]["text"]["verbosity"] == "low"


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
         "additionalProperties: false"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": [],
          "additionalProperties": False}, "every property must be required (missing: a)"),
        ({"type": "array", "items": {"type": "string"}}, "root is an object"),
    ],
)  # fmt: skip
async def test_the_scripted_server_rejects_a_schema_strict_mode_would_refuse(
    schema: dict[str, Any], problem: str
) -> None:
    fmt = {"type": "json_schema", "name": "x", "schema": schema, "strict": True}
    with ScriptedResponsesServer([[message("{}")]]) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(BadRequestError, match=re.escape(problem)):
                await client.create({"model": "m", "input": "hi", "text": {"format": fmt}})
            assert any(problem in p for p in server.problems)
            server.problems.clear()
            await client.create({"model": "m", "input": "hi"})  # the turn is still there


async def test_a_run_cut_before_its_answer_was_checked_resumes_and_asks_again(
    tmp_path: Path,
) -> None:
    agent = Agent(model="gpt-5.1", output_type=Forecast, output_retries=1, store=False)
    full = tmp_path / "full.jsonl"
    await _run(agent, [[message(BAD)], [message(GOOD)]], journal=full)
    records = read_journal(full)
    kinds = [r["kind"] for r in records]
    assert kinds.count("outputs") == 1  # the retry message is journaled
    # A crash right after the invalid answer came back, before it was checked:
    cut = tmp_path / "cut.jsonl"
    upto = kinds.index("response") + 1
    cut.write_text("".join(json.dumps(r) + "\n" for r in records[:upto]))
    with ScriptedResponsesServer([[message(GOOD)]]) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            resumed = await resume(cut, agent=agent, client=client)
    assert resumed.final_output == Forecast(city="Oslo", high_c=12)
    sent = server.create_requests[0].body["input"]
    assert "does not match the required JSON schema" in json.dumps(sent[-1])
    # A finished journal gives the typed answer back without a request.
    with ScriptedResponsesServer([]) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            again = await resume(full, agent=agent, client=client)
    assert again.final_output == Forecast(city="Oslo", high_c=12)
