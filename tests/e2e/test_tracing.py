"""OpenTelemetry spans of real runs (the scripted server over a socket), read back from the
SDK's in-memory exporter installed as the global tracer provider."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sandloop import DockerSandbox, LocalSandbox, ShellTool
from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.errors import ResponseIncompleteError, ServerError
from sandloop.executors.function import tool
from sandloop.loop import Agent, RunResult, events, run
from sandloop.testing import (
    ScriptedResponsesServer,
    Turn,
    function_call,
    message,
    server_error,
    shell_call,
)

CONTENT_KEYS = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}


class _GatedExporter(InMemorySpanExporter):
    """Keeps spans only while a test of this module runs (the provider is process-wide)."""

    open = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return super().export(spans) if self.open else SpanExportResult.SUCCESS


_EXPORTER = _GatedExporter()


@pytest.fixture(scope="session")
def provider() -> TracerProvider:
    installed = TracerProvider()
    installed.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(installed)  # once per process: the API allows no second one
    return installed


@pytest.fixture
def exporter(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    _EXPORTER.open = True
    yield _EXPORTER
    _EXPORTER.open = False
    _EXPORTER.clear()


@tool
def lookup(city: str) -> str:
    """Look up the weather station readings of a city.

    Args:
        city: The city.
    """
    return f"{city}: 12 C, cloudy"


@tool
def broken_station(city: str) -> str:
    """Read a station that is offline.

    Args:
        city: The city.
    """
    raise ValueError(f"the station in {city} is offline")


@tool
def nested(city: str) -> str:
    """A tool that traces its own work.

    Args:
        city: The city.
    """
    with trace.get_tracer("app").start_as_current_span("read the station"):
        return city


def _usage(input: int, cached: int, output: int) -> dict[str, Any]:
    return {
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": input + output,
    }


def _script() -> list[Any]:
    calls = [
        function_call("lookup", {"city": "Oslo"}, call_id="c1"),
        function_call("lookup", {"city": "Bergen"}, call_id="c2"),
    ]
    return [
        Turn(calls, usage=_usage(100, 0, 20)),
        Turn([message("Oslo 12 C, Bergen 12 C", phase="final_answer")], usage=_usage(150, 100, 9)),
    ]


async def _run(agent: Agent, turns: list[Any], **options: Any) -> RunResult:
    with ScriptedResponsesServer(turns) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            return await run(agent, "weather in Oslo and Bergen?", client=client, **options)


def _by_name(spans: Sequence[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        found.setdefault(span.name, []).append(span)
    return found


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.mark.parametrize(
    ("store", "stream"),
    [(True, False), (False, False), (True, True)],
    ids=["chained", "stateless", "streamed"],
)
async def test_a_run_with_tool_calls_makes_one_tree_of_genai_spans(
    exporter: InMemorySpanExporter, store: bool, stream: bool
) -> None:
    agent = Agent(model="gpt-5.1", name="weather", tools=[lookup], store=store)
    result = await _run(agent, _script(), stream=stream)
    spans = exporter.get_finished_spans()
    named = _by_name(spans)
    assert sorted(named) == ["chat gpt-5.1", "execute_tool lookup", "invoke_agent weather"]
    (root,) = named["invoke_agent weather"]
    chats, tools = named["chat gpt-5.1"], named["execute_tool lookup"]
    assert (len(chats), len(tools)) == (2, 2)
    assert root.parent is None
    assert root.kind is SpanKind.INTERNAL
    for child in chats + tools:
        assert child.context is not None
        assert root.context is not None
        assert child.context.trace_id == root.context.trace_id
        assert child.parent is not None
        assert child.parent.span_id == root.context.span_id
    assert {s.kind for s in chats} == {SpanKind.CLIENT}
    assert {s.kind for s in tools} == {SpanKind.INTERNAL}
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)

    run_attrs = _attrs(root)
    assert run_attrs["gen_ai.operation.name"] == "invoke_agent"
    assert run_attrs["gen_ai.agent.name"] == "weather"
    assert run_attrs["gen_ai.provider.name"] == "openai"
    assert run_attrs["sandloop.run.status"] == "completed"
    assert run_attrs["gen_ai.conversation.id"] == result.run_id
    assert run_attrs["gen_ai.usage.input_tokens"] == 250

    first, second = (_attrs(s) for s in chats)
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.request.model"] == "gpt-5.1"
    assert first["gen_ai.response.id"] == result.responses[0].id
    assert first["gen_ai.response.model"] == "gpt-5.1"
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert second["gen_ai.response.finish_reasons"] == ("stop",)
    assert second["gen_ai.response.id"] == result.responses[1].id
    assert (second["gen_ai.usage.input_tokens"], second["gen_ai.usage.output_tokens"]) == (150, 9)
    assert second["gen_ai.usage.cache_read.input_tokens"] == 100
    assert second["gen_ai.usage.reasoning.output_tokens"] == 3
    assert second["sandloop.response.status"] == "completed"
    assert first["server.address"] == "127.0.0.1"

    by_call = {_attrs(s)["gen_ai.tool.call.id"]: _attrs(s) for s in tools}
    assert set(by_call) == {"c1", "c2"}
    assert by_call["c1"]["gen_ai.operation.name"] == "execute_tool"
    assert by_call["c1"]["gen_ai.tool.name"] == "lookup"
    assert by_call["c1"]["gen_ai.tool.type"] == "function"
    assert by_call["c1"]["gen_ai.tool.description"].startswith("Look up the weather")
    assert by_call["c1"]["sandloop.tool.status"] == "completed"
    assert by_call["c1"]["sandloop.tool.duration_s"] >= 0
    # Each tool ran between its model calls.
    assert chats[0].end_time is not None
    assert chats[1].start_time is not None
    assert all(chats[0].end_time <= (t.start_time or 0) for t in tools)
    assert all((t.end_time or 0) <= chats[1].start_time for t in tools)
    # Content is off by default.
    assert not any(CONTENT_KEYS & set(_attrs(s)) for s in spans)
    # The run's span was current while it ran, and is no longer.
    assert not trace.get_current_span().get_span_context().is_valid


async def test_trace_content_records_prompts_answers_and_tool_io(
    exporter: InMemorySpanExporter,
) -> None:
    agent = Agent(
        model="gpt-5.1", instructions="Answer briefly.", tools=[lookup], trace_content=True
    )
    await _run(agent, _script())
    named = _by_name(exporter.get_finished_spans())
    first, second = (_attrs(s) for s in named["chat gpt-5.1"])
    asked = json.loads(first["gen_ai.input.messages"])
    assert asked == [
        {"role": "user", "parts": [{"type": "text", "content": "weather in Oslo and Bergen?"}]}
    ]
    assert json.loads(first["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Answer briefly."}
    ]
    (answer,) = json.loads(first["gen_ai.output.messages"])
    assert answer["finish_reason"] == "tool_calls"
    assert answer["parts"][0] == {
        "type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"city": "Oslo"}
    }  # fmt: skip
    # Chained: the second request sends only the two outputs.
    outputs = json.loads(second["gen_ai.input.messages"])
    assert [m["parts"][0]["type"] for m in outputs] == ["tool_call_response"] * 2
    assert outputs[0]["parts"][0]["result"] == "Oslo: 12 C, cloudy"
    final = json.loads(second["gen_ai.output.messages"])
    assert final[0]["parts"] == [{"type": "text", "content": "Oslo 12 C, Bergen 12 C"}]
    tool_attrs = {_attrs(s)["gen_ai.tool.call.id"]: _attrs(s) for s in named["execute_tool lookup"]}
    assert json.loads(tool_attrs["c2"]["gen_ai.tool.call.arguments"]) == {"city": "Bergen"}
    assert json.loads(tool_attrs["c2"]["gen_ai.tool.call.result"]) == "Bergen: 12 C, cloudy"
    (root,) = named["invoke_agent"]
    (said,) = json.loads(_attrs(root)["gen_ai.output.messages"])
    assert said["parts"] == [{"type": "text", "content": "Oslo 12 C, Bergen 12 C"}]
    assert "Answer briefly." in _attrs(root)["gen_ai.system_instructions"]


async def test_a_failing_tool_span_has_error_status_and_the_exception(
    exporter: InMemorySpanExporter,
) -> None:
    agent = Agent(model="gpt-5.1", tools=[broken_station])
    turns = [[function_call("broken_station", {"city": "Oslo"})], [message("offline")]]
    await _run(agent, turns)
    named = _by_name(exporter.get_finished_spans())
    (span,) = named["execute_tool broken_station"]
    assert span.status.status_code is StatusCode.ERROR
    assert "the station in Oslo is offline" in (span.status.description or "")
    assert _attrs(span)["error.type"] == "ValueError"
    assert _attrs(span)["sandloop.tool.status"] == "failed"
    (raised,) = [e for e in span.events if e.name == "exception"]
    assert raised.attributes is not None
    assert raised.attributes["exception.type"] == "ValueError"
    assert raised.attributes["exception.message"] == "the station in Oslo is offline"
    # The run itself went on and completed.
    (root,) = named["invoke_agent"]
    assert root.status.status_code is StatusCode.UNSET


async def test_an_unknown_tool_is_an_error_span_too(exporter: InMemorySpanExporter) -> None:
    agent = Agent(model="gpt-5.1", tools=[lookup])
    await _run(agent, [[function_call("nowhere", {})], [message("sorry")]])
    (span,) = _by_name(exporter.get_finished_spans())["execute_tool nowhere"]
    assert span.status.status_code is StatusCode.ERROR
    assert _attrs(span)["error.type"] == "unknown_tool"
    assert "Unknown tool 'nowhere'" in (span.status.description or "")


async def test_spans_a_tool_makes_are_children_of_its_execute_tool_span(
    exporter: InMemorySpanExporter,
) -> None:
    agent = Agent(model="gpt-5.1", tools=[nested])  # a sync tool: it runs in a worker thread
    await _run(agent, [[function_call("nested", {"city": "Oslo"})], [message("done")]])
    named = _by_name(exporter.get_finished_spans())
    (inner,) = named["read the station"]
    (outer,) = named["execute_tool nested"]
    assert inner.parent is not None
    assert outer.context is not None
    assert inner.parent.span_id == outer.context.span_id


async def test_a_run_inside_an_application_span_is_its_child(
    exporter: InMemorySpanExporter,
) -> None:
    with trace.get_tracer("app").start_as_current_span("handle request") as outer:
        await _run(Agent(model="gpt-5.1"), [[message("hi")]])
    (root,) = _by_name(exporter.get_finished_spans())["invoke_agent"]
    assert root.parent is not None
    assert root.parent.span_id == outer.get_span_context().span_id


async def test_a_failed_model_call_ends_the_chat_and_run_spans_with_the_error(
    exporter: InMemorySpanExporter,
) -> None:
    agent = Agent(model="gpt-5.1")
    with pytest.raises(ServerError):
        await _run(agent, [Turn(None, faults=[server_error(500)])])
    named = _by_name(exporter.get_finished_spans())
    (chat,) = named["chat gpt-5.1"]
    (root,) = named["invoke_agent"]
    for span in (chat, root):
        assert span.status.status_code is StatusCode.ERROR
        assert _attrs(span)["error.type"] == "ServerError"
        assert [e.name for e in span.events] == ["exception"]
    assert _attrs(root)["sandloop.run.status"] == "failed"


async def test_a_run_stopped_by_its_first_event_callback_leaves_no_span_open(
    exporter: InMemorySpanExporter,
) -> None:
    def refuse(event: events.RunEvent) -> None:
        if isinstance(event, events.RunStarted):
            raise RuntimeError("not today")

    with pytest.raises(RuntimeError, match="not today"):
        await _run(Agent(model="gpt-5.1"), [], on_event=refuse)
    (root,) = _by_name(exporter.get_finished_spans())["invoke_agent"]
    assert root.status.status_code is StatusCode.ERROR
    assert _attrs(root)["error.type"] == "RuntimeError"
    assert not trace.get_current_span().get_span_context().is_valid


async def test_an_incomplete_answer_finishes_for_length(exporter: InMemorySpanExporter) -> None:
    with pytest.raises(ResponseIncompleteError):
        await _run(Agent(model="gpt-5.1"), [Turn([message("It is")], status="incomplete")])
    named = _by_name(exporter.get_finished_spans())
    (chat,) = named["chat gpt-5.1"]
    assert _attrs(chat)["gen_ai.response.finish_reasons"] == ("length",)
    assert _attrs(chat)["sandloop.response.status"] == "incomplete"
    (root,) = named["invoke_agent"]
    assert _attrs(root)["error.type"] == "ResponseIncompleteError"
    assert _attrs(root)["sandloop.run.status"] == "incomplete"


async def test_a_retried_model_call_is_one_chat_span_with_a_retry_event(
    exporter: InMemorySpanExporter,
) -> None:
    fast = RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.02)
    with ScriptedResponsesServer([Turn([message("hi")], faults=[server_error(503)])]) as server:
        async with ResponsesClient(base_url=server.base_url, retry=fast) as client:
            await run(Agent(model="gpt-5.1"), "hi", client=client)
    (chat,) = _by_name(exporter.get_finished_spans())["chat gpt-5.1"]
    assert chat.status.status_code is StatusCode.UNSET
    (retry,) = chat.events
    assert retry.name == "sandloop.response.retry"
    assert retry.attributes is not None
    assert retry.attributes["error.type"] == "ServerError"
    assert retry.attributes["sandloop.retry.attempt"] == 1


@tool
async def slow(city: str) -> str:
    """Wait for a reading that never comes.

    Args:
        city: The city.
    """
    await anyio.sleep_forever()
    return city


async def test_a_cancelled_run_ends_every_open_span_with_an_error(
    exporter: InMemorySpanExporter,
) -> None:
    agent = Agent(model="gpt-5.1", tools=[slow, lookup])
    turns = [[function_call("lookup", {"city": "Oslo"}), function_call("slow", {"city": "x"})]]
    with ScriptedResponsesServer(turns) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            with anyio.CancelScope() as scope:

                def cancel_when_slow_starts(event: events.RunEvent) -> None:
                    if isinstance(event, events.ToolCallStarted) and event.tool == "slow":
                        scope.cancel()

                await run(agent, "hi", client=client, on_event=cancel_when_slow_starts)
    assert scope.cancelled_caught
    named = _by_name(exporter.get_finished_spans())
    (root,) = named["invoke_agent"]
    (chat,) = named["chat gpt-5.1"]
    (cancelled,) = named["execute_tool slow"]
    assert root.status.status_code is StatusCode.ERROR
    assert _attrs(root)["error.type"] == "CancelledError"
    assert _attrs(root)["sandloop.run.status"] == "cancelled"
    assert cancelled.status.status_code is StatusCode.ERROR
    assert _attrs(cancelled)["sandloop.tool.status"] == "cancelled"
    assert chat.status.status_code is StatusCode.UNSET  # it had finished before
    for span in (root, chat, cancelled):
        assert span.end_time is not None


async def test_a_run_cancelled_during_the_model_call_ends_the_chat_span(
    exporter: InMemorySpanExporter,
) -> None:
    agent = Agent(model="gpt-5.1")
    server = ScriptedResponsesServer([[message("never read")]], check_protocol=False).start()
    try:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            with anyio.CancelScope() as scope:

                def cancel_on_turn(event: events.RunEvent) -> None:
                    if isinstance(event, events.TurnStarted):
                        scope.cancel()

                await run(agent, "hi", client=client, on_event=cancel_on_turn)
    finally:
        server.close()
    named = _by_name(exporter.get_finished_spans())
    (chat,) = named["chat gpt-5.1"]
    (root,) = named["invoke_agent"]
    assert chat.status.status_code is StatusCode.ERROR
    assert _attrs(chat)["error.type"] == "CancelledError"
    assert root.status.status_code is StatusCode.ERROR


async def test_the_tool_spans_name_the_local_sandbox(
    exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    agent = Agent(model="gpt-5.1", tools=[ShellTool()])
    await _run(
        agent, [[shell_call(["echo hi"])], [message("done")]], sandbox=LocalSandbox(tmp_path)
    )
    (span,) = _by_name(exporter.get_finished_spans())["execute_tool shell"]
    assert _attrs(span)["sandloop.sandbox.type"] == "LocalSandbox"
    assert _attrs(span)["sandloop.tool.call_type"] == "shell_call"


@pytest.mark.docker
async def test_the_tool_spans_carry_the_docker_sandbox_id(
    exporter: InMemorySpanExporter, tmp_path: Path, base_image: str
) -> None:
    sandbox = DockerSandbox(base_image, workspace=tmp_path)
    seen: list[str | None] = []

    def note_container(event: events.RunEvent) -> None:
        if isinstance(event, events.ToolCallStarted):
            seen.append(sandbox.container_id)

    agent = Agent(model="gpt-5.1", tools=[ShellTool()])
    turns = [[shell_call(["echo hi"])], [message("done")]]
    await _run(agent, turns, sandbox=sandbox, on_event=note_container)
    named = _by_name(exporter.get_finished_spans())
    (span,) = named["execute_tool shell"]
    assert seen[0]
    assert _attrs(span)["sandloop.sandbox.id"] == seen[0]
    assert _attrs(span)["sandloop.sandbox.type"] == "DockerSandbox"
    assert _attrs(named["invoke_agent"][0])["sandloop.sandbox.id"] == seen[0]


_WITHOUT_OTEL = """
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed: import fails
import anyio
from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.loop import Agent, run
from sandloop.testing import ScriptedResponsesServer, message

async def main():
    with ScriptedResponsesServer([[message("hello")]]) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            result = await run(Agent(model="m", trace_content=True), "hi", client=client)
    print(result.final_output)

anyio.run(main)
"""


def test_runs_work_without_opentelemetry_installed() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OTEL], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hello"


_NO_PROVIDER = _WITHOUT_OTEL.replace(
    'sys.modules["opentelemetry"] = None  # as if the extra were not installed: import fails',
    "from opentelemetry import trace  # installed, but no tracer provider configured",
).replace(
    "    print(result.final_output)",
    "    print(result.final_output, trace.get_current_span().get_span_context().is_valid)",
)


def test_without_a_tracer_provider_a_run_records_nothing_and_works() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _NO_PROVIDER], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hello False"
    assert out.stderr == ""  # no warning about a context detached in the wrong place


def test_importing_sandloop_does_not_import_opentelemetry() -> None:
    code = "import sys, sandloop; print('opentelemetry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
