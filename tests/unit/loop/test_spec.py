"""RunSpec and RunResult as data: JSON round trips, the format version, client settings, and
a spec that runs (against the scripted server over a real socket)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import spec_support
from hypothesis import given, settings
from hypothesis import strategies as st

from sandloop import (
    Agent,
    ClientSettings,
    LocalSandbox,
    ResponsesClient,
    RetryPolicy,
    RunResult,
    RunSpec,
    ShellTool,
)
from sandloop.client import RecordingClient
from sandloop.errors import ConfigError
from sandloop.items import Usage, parse_items, parse_response
from sandloop.testing import ScriptedResponsesServer, function_call, message


def spec_of(tmp_path: Path, **options: Any) -> RunSpec:
    agent = Agent(model="gpt-5.1", tools=[spec_support.add, ShellTool(timeout=30)], max_turns=5)
    return RunSpec(
        agent,
        [{"type": "message", "role": "user", "content": "add 2 and 3"}],
        sandbox=LocalSandbox(tmp_path, env={"A": "1"}),
        client=ClientSettings(base_url="http://127.0.0.1:9/v1", retry=RetryPolicy(max_retries=7)),
        labels={"task": "sum"},
        metadata={"attempt": 2, "tags": ["x"]},
        **options,
    )


def test_a_spec_round_trips_through_json(tmp_path: Path) -> None:
    spec = spec_of(tmp_path)
    data = json.loads(json.dumps(spec.to_dict(), allow_nan=False))
    assert data["version"] == 1
    again = RunSpec.from_dict(data)
    assert again.to_dict() == data
    assert again.agent.registry.definitions() == spec.agent.registry.definitions()
    assert again.agent.tools[0] is spec_support.add
    assert again.input == spec.input
    assert isinstance(again.sandbox, LocalSandbox)
    assert again.sandbox is not spec.sandbox  # a new, unstarted one
    assert again.client == spec.client
    assert (again.labels, again.metadata) == (spec.labels, spec.metadata)


@pytest.mark.parametrize("version", [2, 99])
def test_a_newer_format_is_refused_saying_which_this_reads(tmp_path: Path, version: int) -> None:
    data = {**spec_of(tmp_path).to_dict(), "version": version}
    with pytest.raises(ConfigError, match=rf"version {version}, newer .*reads \(version 1\)"):
        RunSpec.from_dict(data)
    result = {**RunResult("r", "completed", "", []).to_dict(), "version": version}
    with pytest.raises(ConfigError, match=rf"version {version}, newer .*reads \(version 1\)"):
        RunResult.from_dict(result)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"version": None}, "needs a format 'version'.*reads version 1"),
        ({"version": "1"}, "needs a format 'version'"),
        ({"extra": 1}, "unknown RunSpec field.*extra"),
        ({"client": {"api_key": "sk-x"}}, "unknown client setting.*api_key"),
        ({"client": {"headers": {"Authorization": "Bearer sk"}}}, "must not carry credentials"),
        ({"labels": {"a": 1}}, "labels map strings to strings"),
    ],
)
def test_malformed_specs_are_config_errors(tmp_path: Path, change: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RunSpec.from_dict({**spec_of(tmp_path).to_dict(), **change})


def test_a_spec_that_is_not_json_is_refused_when_described(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="metadata is not JSON"):
        RunSpec(Agent(model="m"), "hi", metadata={"x": object()}).to_dict()
    with pytest.raises(ConfigError, match="agent is not JSON"):
        RunSpec(Agent(model="m", request_options={"t": float("nan")}), "hi").to_dict()


def test_client_settings_capture_a_client_but_never_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = ResponsesClient(
        api_key="sk-secret-123",
        base_url="https://api.example.org/v1/",
        timeout=30,
        connect_timeout=2,
        max_retries=4,
        poll_interval=1,
        max_poll_interval=9,
        headers={"x-team": "a"},
        organization="org_1",
        project="proj_1",
        max_connections=3,
    )
    settings = ClientSettings.of(client)
    data = json.loads(json.dumps(settings.to_dict()))
    assert "sk-secret-123" not in json.dumps(data)
    assert ClientSettings.from_dict(data) == settings
    assert data["base_url"] == "https://api.example.org/v1"
    assert data["retry"]["max_retries"] == 4
    assert (data["organization"], data["project"], data["headers"]) == (
        "org_1",
        "proj_1",
        {"x-team": "a"},
    )
    # The key is read where the client is made.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="no API key"):
        ClientSettings.from_dict(data).make_client()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-elsewhere")
    made = ClientSettings.from_dict(data).make_client()
    assert ClientSettings.of(made) == settings


def _no_answer(request: httpx.Request) -> httpx.Response:
    raise AssertionError("no request is made")


def test_clients_that_are_not_data_are_refused() -> None:
    with pytest.raises(ConfigError, match="transport"):
        ClientSettings.of(
            ResponsesClient(
                base_url="http://127.0.0.1:9", transport=httpx.MockTransport(_no_answer)
            )
        )
    with pytest.raises(ConfigError, match="RecordingClient"):
        ClientSettings.of(
            RecordingClient(listener=lambda kind, payload: None, base_url="http://127.0.0.1:9")
        )
    with pytest.raises(ConfigError, match=r"credentials.*api-key"):
        ClientSettings.of(ResponsesClient(base_url="http://127.0.0.1:9", headers={"api-key": "k"}))
    with pytest.raises(ConfigError, match="takes ClientSettings"):
        RunSpec(Agent(model="m"), "hi", client=ResponsesClient(base_url="http://127.0.0.1:9"))  # type: ignore[arg-type]


def test_a_result_round_trips_exactly() -> None:
    items = parse_items(
        [
            {"type": "message", "role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c1", "name": "add", "arguments": "{}",
             "id": "fc_1", "status": "completed", "created_by": {"actor": "model"}},
            {"type": "function_call_output", "call_id": "c1", "output": "5"},
            {"type": "future_item_kind", "payload": [1, {"z": None}]},
            {"type": "message", "role": "assistant", "phase": "final_answer", "id": "m1",
             "content": [{"type": "output_text", "text": "5", "annotations": []}]},
        ]
    )  # fmt: skip
    response = parse_response(
        {"id": "resp_1", "object": "response", "status": "completed", "model": "m",
         "output": [{"type": "message", "role": "assistant", "content": "5"}],
         "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}}
    )  # fmt: skip
    result = RunResult(
        run_id="run_1",
        status="completed",
        final_output="5",
        items=items,
        responses=[response],
        usage=Usage(input_tokens=3, output_tokens=1, total_tokens=4),
        turns=1,
        history=items[2:],
        last_response_id="resp_1",
        pending_input=items[2:3],
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["version"] == 1
    assert data["items"][1]["created_by"] == {"actor": "model"}
    assert RunResult.from_dict(data) == result
    assert RunResult.from_dict({k: v for k, v in data.items() if k != "version"}) == result


async def test_a_spec_runs_with_a_client_it_makes_and_closes() -> None:
    script = [[function_call("add", {"a": 2, "b": 3})], [message("5", phase="final_answer")]]
    async with ScriptedResponsesServer(script) as server:
        spec = RunSpec(
            Agent(model="gpt-5.1", tools=[spec_support.add]),
            "add 2 and 3",
            client=ClientSettings(base_url=server.base_url, retry=RetryPolicy(max_retries=0)),
        )
        again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        result = await again.run(context={"k": "v"})
        with pytest.raises(ConfigError, match="the spec gives client"):
            await again.run(client=ResponsesClient(base_url=server.base_url))
    assert result.status == "completed"
    assert result.final_output == "5"
    with pytest.raises(ConfigError, match=r"inside a running event loop: use `await spec.run\(\)`"):
        again.run_sync()
    outputs = [i for i in result.items if i.type == "function_call_output"]
    assert [o.output for o in outputs] == ["5"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
DESCRIBED = RunSpec(
    Agent(model="m", tools=[spec_support.add]),
    [{"type": "message", "role": "user", "content": "hi"}],
    client=ClientSettings(base_url="http://127.0.0.1:9/v1"),
).to_dict()


@given(
    st.sampled_from([*sorted(DESCRIBED), "client.retry", "client.headers", "client.timeout"]),
    json_values,
)
@settings(max_examples=300)
def test_a_wrongly_typed_spec_field_is_a_config_error(key: str, value: Any) -> None:
    data = json.loads(json.dumps(DESCRIBED))
    if key.startswith("client."):
        data["client"][key.partition(".")[2]] = value
    else:
        data[key] = value
    with contextlib.suppress(ConfigError):
        RunSpec.from_dict(data)
