"""The public entry points: ``run``, ``run_sync`` and ``stream``.

Part of ``loop``. All three drive one :class:`~sandloop.loop.runner.AgentLoop`; they differ only
in where its events go: ``run`` hands them to ``on_event`` (or drops them), ``stream`` yields them
(and hands them to ``on_event`` too). The run owns what it opens: a client it made, a sandbox
passed to it unstarted (started before the first request, removed when the run ends, also on
errors and cancellation). A started sandbox is borrowed and left as it is.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, aclosing
from functools import partial
from typing import Any, Literal

import anyio

from sandloop.client import ResponsesClient
from sandloop.errors import ConfigError
from sandloop.executors.base import ApprovalCallback
from sandloop.loop.agent import Agent
from sandloop.loop.events import RunEvent
from sandloop.loop.journal import Journal
from sandloop.loop.result import RunResult
from sandloop.loop.runner import AgentLoop, EventSink
from sandloop.sandboxes.base import Sandbox

__all__ = (
    "Approve",
    "EventCallback",
    "OnEvent",
    "describe_run",
    "drive",
    "refuse_running_loop",
    "release_after",
    "run",
    "run_sync",
    "sink",
    "stream",
)

EventCallback = Callable[[RunEvent], "Awaitable[None] | None"]
#: One event callback, or several (each gets every event, in order).
OnEvent = EventCallback | Sequence[EventCallback] | None
#: A decision callback, or ``"defer"``: pause the run at the first call that needs a decision.
Approve = ApprovalCallback | Literal["defer"] | None


async def run(
    agent: Agent,
    input: str | list[Any],
    *,
    sandbox: Sandbox | None = None,
    client: ResponsesClient | None = None,
    approve: Approve = None,
    context: dict[str, Any] | None = None,
    previous_response_id: str | None = None,
    on_event: OnEvent = None,
    stream: bool = False,
    journal: str | os.PathLike[str] | None = None,
) -> RunResult:
    """Run ``agent`` on ``input`` until the model gives its final answer.

    Args:
        agent: What to run.
        input: The user's message, or a list of items (e.g. a previous result's ``history``
            plus a new user message, to continue a conversation).
        sandbox: Where shell, patch and computer tools act. Pass it unstarted and the run
            starts it and removes it at the end (in copy mode its changes are kept as
            ``result.changes``); a started one (your ``async with``) is only used.
        client: The Responses API client; one is made from ``OPENAI_API_KEY`` /
            ``OPENAI_BASE_URL`` (and closed) when left out.
        approve: Decides on calls that need approval (sync or async; ``True`` allows), or
            ``"defer"``: the run stops with ``status == "needs_approval"`` at the first call
            that needs a decision; continue it with :func:`sandloop.resume`.
        context: Values tools see as ``ToolContext.extra``.
        previous_response_id: Continue a stored conversation (chained mode).
        on_event: Receives every :class:`~sandloop.loop.events.RunEvent` (sync or async); one
            callback or a list of them.
        stream: Stream responses so ``on_event`` also gets text deltas.
        journal: A file (outside the workspace) where every step is appended as it happens;
            :func:`sandloop.resume` continues the run from it after a crash.

    Returns:
        The :class:`RunResult`.

    Raises:
        ConfigError: the options cannot work (e.g. tools that need a sandbox and none given),
            before any model request.
        MaxTurnsExceeded: ``agent.max_turns`` model calls without a final answer.
        RunTimeoutError: ``agent.timeout`` passed.
        ResponseIncompleteError: the model stopped early (``reason`` says why).
        ResponseFailedError: the model call failed.
        SandboxError: the sandbox stopped working (or was started in another event loop).
        ApiError: the API could not be reached or refused the request (after retries).

        Every error that ends a run carries the partial result as ``.result`` (also the last
        event, ``RunEnded.result``); its ``history`` answers every call, so it can be sent
        again to resume.
    """

    def make(client: ResponsesClient) -> AgentLoop:
        owned = sandbox is not None and not sandbox.started
        loop = AgentLoop(
            agent,
            input,
            client=client,
            sandbox=sandbox,
            approve=None if approve == "defer" else approve,
            defer=approve == "defer",
            context=context,
            previous_response_id=previous_response_id,
            stream=stream,
            emit=sink(on_event),
            own_sandbox=owned,
            description=describe_run(agent, sandbox, client, approve=approve),
        )
        loop.journal = open_journal(journal, sandbox)  # once the options were found sound
        return loop

    return await drive(make, client)


async def drive(
    make: Callable[[ResponsesClient], AgentLoop], client: ResponsesClient | None
) -> RunResult:
    """Make the loop (options are checked before anything is opened) and run it."""
    async with AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(ResponsesClient())
        loop = make(client)
        return await loop.run()


def run_sync(agent: Agent, input: str | list[Any], **options: Any) -> RunResult:
    """Blocking form of :func:`run` for scripts (starts its own event loop).

    Pass the sandbox unstarted (``sandbox=DockerSandbox(workspace="./repo")``): the run starts
    and removes it. A ``client=`` can be passed to any number of ``run_sync`` calls.

    Raises:
        ConfigError: called from inside a running event loop (use ``await run(...)``).
    """
    refuse_running_loop("run_sync", "await sandloop.run(...)")
    return anyio.run(partial(release_after, run(agent, input, **options), options.get("client")))


async def release_after(work: Awaitable[RunResult], client: ResponsesClient | None) -> RunResult:
    """Await ``work``, then close the connections ``client`` opened in this (ending) loop."""
    try:
        return await work
    finally:
        if client is not None:
            await client.aclose()  # the client reopens its pool in the next loop


def refuse_running_loop(name: str, instead: str) -> None:
    """Raise ``ConfigError`` when called inside a running asyncio event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise ConfigError(
        f"{name}() was called inside a running event loop, which it would block: use "
        f"{instead} there"
    )


async def stream(agent: Agent, input: str | list[Any], **options: Any) -> AsyncGenerator[RunEvent]:
    """Run ``agent`` and yield its events as they happen; the last is ``RunEnded``.

    Takes the same options as :func:`run` (except ``stream``); ``on_event`` callbacks get the
    same events too. Responses are streamed, so the events include
    :class:`~sandloop.loop.events.TextDelta`. A failed run raises its error after
    ``RunEnded`` was yielded. To stop early, wrap the generator in ``contextlib.aclosing`` so
    the run is cancelled at once (it still ends with ``RunEnded`` to ``on_event``).
    """
    on_event = options.pop("on_event", None)
    callbacks = list(on_event) if isinstance(on_event, Sequence) else [on_event]
    events = events_of(
        lambda emit: run(agent, input, on_event=[emit, *callbacks], stream=True, **options)
    )
    # Closed here, in this task, when the consumer stops early: that cancels the run at once.
    async with aclosing(events):
        async for event in events:
            yield event


async def events_of(
    start: Callable[[EventCallback], Awaitable[Any]],
) -> AsyncGenerator[RunEvent]:
    """Yield the events a run started by ``start(emit)`` emits; re-raise its error after."""
    send, receive = anyio.create_memory_object_stream[RunEvent](max_buffer_size=math.inf)
    errors: list[Exception] = []

    async def emit(event: RunEvent) -> None:
        # Never blocks (unbounded buffer), and a consumer that left does not fail the run.
        try:
            send.send_nowait(event)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return

    async def go() -> None:
        async with send:
            try:
                await start(emit)
            except Exception as exc:
                # Re-raised by the generator itself, not as an ExceptionGroup of the task group.
                errors.append(exc)

    closed = False
    async with anyio.create_task_group() as tg:
        tg.start_soon(go)
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


def sink(callbacks: OnEvent) -> EventSink | None:
    """One async sink calling each callback (sync or async) in order."""
    if callbacks is None:
        return None
    listeners = [callbacks] if callable(callbacks) else [c for c in callbacks if c is not None]

    async def call(event: RunEvent) -> None:
        for callback in listeners:
            result = callback(event)
            if inspect.isawaitable(result):
                await result

    return call


def open_journal(path: str | os.PathLike[str] | None, sandbox: Sandbox | None) -> Journal:
    """The run's journal: at ``path`` (refused inside a bind-mounted workspace) or in memory."""
    workspace = sandbox.host_workspace if sandbox is not None else None
    return Journal(path, forbidden=[workspace] if workspace is not None else [])


def describe_run(
    agent: Agent, sandbox: Sandbox | None, client: ResponsesClient, *, approve: Approve = None
) -> dict[str, Any]:
    """The run as data for the journal header: what :func:`sandloop.resume` rebuilds it from.

    Parts that cannot be described (a tool that is a closure, a sandbox kind without a
    description) are recorded as ``None`` with the reason; resuming then needs them passed in.
    """
    try:
        described: dict[str, Any] | None = agent.to_dict()
        why = None
    except ConfigError as exc:
        described, why = None, str(exc)
    return {
        "agent": described,
        "agent_error": why,
        "sandbox": _describe_sandbox(sandbox),
        "base_url": client.base_url,
        "approve": approve if approve in (None, "defer") else "callback",
    }


def _describe_sandbox(sandbox: Sandbox | None) -> dict[str, Any] | None:
    """The sandbox's own description (``Sandbox.to_dict``), or ``{"kind", "error"}`` when it
    cannot be described; resuming then needs ``sandbox=``."""
    if sandbox is None:
        return None
    try:
        return dict(sandbox.to_dict())
    except ConfigError as exc:
        return {"kind": None, "error": str(exc)}
