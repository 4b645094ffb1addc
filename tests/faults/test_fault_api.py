"""The Responses server misbehaves: 429s and 500s in a row, cut and malformed streams.

Each run does real work first (a shell command and a 50-line patch in a DockerSandbox), then
meets the fault on its next model call. Transient faults are retried and the run completes;
persistent ones end the run with a typed error whose partial result is complete up to the
fault and can be resumed (the scripted server checks the resumed request strictly).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from faults_support import (
    PATCH_DIFF,
    PATCHED,
    TEST_LABEL,
    Events,
    assert_complete_transcript,
    assert_patch_whole_or_absent,
)

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.errors import (
    ApiConnectionError,
    ApiError,
    InvalidResponseError,
    RateLimitError,
    ServerError,
)
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.shell import ShellTool
from sandloop.items import dump_item
from sandloop.loop import Agent, run
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.testing import (
    Fault,
    ScriptedResponsesServer,
    Turn,
    apply_patch_call,
    drop_connection,
    malformed_stream,
    message,
    rate_limited,
    server_error,
    shell_call,
)

pytestmark = pytest.mark.docker

RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)


def _agent(*, store: bool = True) -> Agent:
    return Agent(model="gpt-test", tools=[ShellTool(), ApplyPatchTool()], store=store)


def _work() -> list[dict[str, Any]]:
    return [
        shell_call("echo made > made.txt && cat made.txt", call_id="call_sh"),
        apply_patch_call("create_file", PATCHED, PATCH_DIFF, call_id="call_patch"),
    ]


def _final(faults: list[Fault]) -> Turn:
    return Turn([message("all done", phase="final_answer")], faults=faults)


@asynccontextmanager
async def _setup(
    image: str, workspace: Path, turns: list[Any]
) -> AsyncIterator[tuple[DockerSandbox, ResponsesClient, ScriptedResponsesServer]]:
    # Random chunk sizes: the SSE answers arrive cut at arbitrary byte boundaries too.
    with ScriptedResponsesServer(turns, stream_chunk_size=(1, 64), seed=7) as server:
        async with (
            DockerSandbox(image, workspace=workspace, labels=TEST_LABEL) as sandbox,
            ResponsesClient(base_url=server.base_url, retry=RETRY) as client,
        ):
            yield sandbox, client, server


async def _attempt(agent: Agent, input: Any, sandbox: Any, client: Any, **options: Any) -> Any:
    """The run's result, or the API error that ended it."""
    try:
        return await run(agent, input, sandbox=sandbox, client=client, **options)
    except ApiError as exc:
        return exc


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([rate_limited(0.01)] * 3, id="429x3"),
        pytest.param([rate_limited(None, retry_after_ms=5)] * 3, id="429x3-retry-after-ms"),
        pytest.param([server_error(500)] * 3, id="500x3"),
        pytest.param([server_error(503), rate_limited(0.01), server_error(502)], id="mixed"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_transient_faults_are_retried_and_the_run_completes(
    image: str, workspace: Path, faults: list[Fault], stream: bool
) -> None:
    async with _setup(image, workspace, [_work(), _final(faults)]) as (sandbox, client, server):
        result = await _attempt(_agent(), "Make the file.", sandbox, client, stream=stream)
    assert not isinstance(result, Exception), result
    assert result.final_output == "all done"
    assert result.status == "completed"
    assert_complete_transcript(result)
    assert_patch_whole_or_absent(workspace)
    assert (workspace / PATCHED).exists()
    # The failed attempts and the retry that got through all sent the same request.
    attempts = server.create_requests[1:]
    assert len(attempts) == len(faults) + 1
    assert all(a.body == attempts[0].body for a in attempts)


async def test_a_connection_dropped_before_the_answer_is_retried(
    image: str, workspace: Path
) -> None:
    turns: list[Any] = [_work(), _final([drop_connection()] * 2)]
    async with _setup(image, workspace, turns) as (sandbox, client, server):
        result = await _attempt(_agent(), "Make the file.", sandbox, client)
    assert result.final_output == "all done"
    assert len(server.create_requests) == 4


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        pytest.param([rate_limited(0.01)] * 4, RateLimitError, id="429-forever"),
        pytest.param([server_error(500)] * 4, ServerError, id="500-forever"),
        pytest.param([drop_connection()] * 4, ApiConnectionError, id="dropped-forever"),
        pytest.param(
            [drop_connection(after_events=5)] * 4, ApiConnectionError, id="cut-mid-stream"
        ),
        pytest.param([malformed_stream(after_events=4)], InvalidResponseError, id="malformed"),
    ],
)
async def test_persistent_faults_end_the_run_typed_and_its_history_resumes(
    image: str, workspace: Path, faults: list[Fault], error: type[ApiError]
) -> None:
    # Retries exhausted (a stream cut mid-answer is retried too; a malformed one is not): the
    # run ends with the error; its history is complete up to the fault and valid to send again.
    agent = _agent(store=False)
    streamed = any(f.after_events for f in faults)  # the fault breaks an answer that began
    failing = _final(faults) if streamed else Turn(None, faults=faults)
    turns: list[Any] = [_work(), failing]
    if not streamed:
        turns.append(_final([]))
    async with _setup(image, workspace, turns) as (sandbox, client, server):
        events = Events()
        outcome = await _attempt(
            agent, "Make the file.", sandbox, client, on_event=events, stream=streamed
        )
        assert isinstance(outcome, error), outcome
        ended = events.ended
        assert ended.error is outcome
        result = ended.result
        assert result.status == "failed"
        assert result.turns == 2
        assert_complete_transcript(result)
        assert_patch_whole_or_absent(workspace)
        assert (workspace / PATCHED).exists()  # the first turn's work stands
        assert "all done" not in repr(result.items)  # nothing of the broken answer got in
        # Resume: the scripted server checks the replayed history item by item.
        resumed = await _attempt(agent, result.history, sandbox, client)
        assert not isinstance(resumed, Exception), resumed
        assert resumed.final_output == "all done"
        assert server.create_requests[-1].body["input"][: len(result.history)] == [
            dump_item(i) for i in result.history
        ]
