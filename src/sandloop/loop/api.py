"""The public entry points: ``run``, ``run_sync`` and ``stream``.

Part of ``loop``. All three drive one :class:`~sandloop.loop.runner.AgentLoop`; they differ only
in where its events go: ``run`` hands them to ``on_event`` (or drops them), ``stream`` yields them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

import anyio

from sandloop.client import ResponsesClient
from sandloop.executors.base import ApprovalCallback
from sandloop.loop.agent import Agent
from sandloop.loop.events import RunEvent
from sandloop.loop.result import RunResult
from sandloop.loop.runner import AgentLoop, EventSink
from sandloop.sandboxes.base import Sandbox

__all__ = ("run", "run_sync", "stream")

EventCallback = Callable[[RunEvent], "Awaitable[None] | None"]


async def run(
    agent: Agent,
    input: str | list[Any],
    *,
    sandbox: Sandbox | None = None,
    client: ResponsesClient | None = None,
    approve: ApprovalCallback | None = None,
    context: dict[str, Any] | None = None,
    previous_response_id: str | None = None,
    on_event: EventCallback | None = None,
    stream: bool = False,
) -> RunResult:
    """Run ``agent`` on ``input`` until the model gives its final answer.

    Args:
        agent: What to run.
        input: The user's message, or a list of items (e.g. a previous result's ``history``
            plus a new user message, to continue a conversation).
        sandbox: Where shell, patch and computer tools act (already started, or started by
            the caller's ``async with``).
        client: The Responses API client; one is made from ``OPENAI_API_KEY`` /
            ``OPENAI_BASE_URL`` (and closed) when left out.
        approve: Decides on calls that need approval (sync or async; ``True`` allows).
        context: Values tools see as ``ToolContext.extra``.
        previous_response_id: Continue a stored conversation (chained mode).
        on_event: Receives every :class:`~sandloop.loop.events.RunEvent` (sync or async).
        stream: Stream responses so ``on_event`` also gets text deltas.

    Returns:
        The :class:`RunResult`.

    Raises:
        MaxTurnsExceeded: ``agent.max_turns`` model calls without a final answer.
        RunTimeoutError: ``agent.timeout`` passed.
        ResponseIncompleteError: the model stopped early (``reason`` says why).
        ResponseFailedError: the model call failed.
        SandboxError: the sandbox stopped working.
        ApiError: the API could not be reached or refused the request (after retries).

        Run errors and ``ResponseFailedError`` carry the partial result as ``.result``; for the
        others it is in the last event, ``RunEnded.result``. Either way its ``history``
        answers every call, so it can be sent again to resume.
    """
    async with AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(ResponsesClient())
        loop = AgentLoop(
            agent,
            input,
            client=client,
            sandbox=sandbox,
            approve=approve,
            context=context,
            previous_response_id=previous_response_id,
            stream=stream,
            emit=_sink(on_event),
        )
        return await loop.run()


def run_sync(agent: Agent, input: str | list[Any], **options: Any) -> RunResult:
    """Blocking form of :func:`run` for scripts (starts its own event loop)."""
    return anyio.run(partial(run, agent, input, **options))


async def stream(
    agent: Agent, input: str | list[Any], **options: Any
) -> AsyncGenerator[RunEvent, None]:
    """Run ``agent`` and yield its events as they happen; the last is ``RunEnded``.

    Takes the same options as :func:`run` (except ``on_event`` and ``stream``). Responses are
    streamed, so the events include :class:`~sandloop.loop.events.TextDelta`. A failed run
    raises its error after ``RunEnded`` was yielded. To stop early, wrap the generator in
    ``contextlib.aclosing`` so the run is cancelled at once.
    """
    send, receive = anyio.create_memory_object_stream[RunEvent](max_buffer_size=math.inf)
    errors: list[Exception] = []

    async def drive() -> None:
        async with send:
            try:
                await run(agent, input, on_event=send.send, stream=True, **options)
            except Exception as exc:
                # Re-raised by the generator itself, not as an ExceptionGroup of the task group.
                errors.append(exc)

    closed = False
    async with anyio.create_task_group() as tg:
        tg.start_soon(drive)
        try:
            async with receive:
                async for event in receive:
                    yield event
        except GeneratorExit:
            # The consumer stopped early (``aclose()``): cancel the run, then finish quietly.
            closed = True
            tg.cancel_scope.cancel()
    if errors and not closed:
        raise errors[0]


def _sink(callback: EventCallback | None) -> EventSink | None:
    if callback is None:
        return None
    if inspect.iscoroutinefunction(callback):
        return callback

    async def call(event: RunEvent) -> None:
        result = callback(event)
        if inspect.isawaitable(result):
            await result

    return call
