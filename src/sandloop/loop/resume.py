"""``resume``: continue a run from its journal (after a crash) or from a paused RunState.

Part of ``loop``. The journal's records are replayed into a fresh
:class:`~sandloop.loop.runner.AgentLoop`, which then goes on as if it had never stopped: calls
with a recorded output are never run again; a call that had started but has no output is
answered with an output saying its effect is unknown (a ``@tool(idempotent=True)`` function is
run again instead); a request with no recorded response is sent again, the same body with the
same prompt cache key. Bind mode resumes on the same workspace in a fresh sandbox; copy mode
re-applies the journaled changes to a fresh copy.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import anyio

from sandloop.client import ResponsesClient
from sandloop.dispatch.outputs import call_id_of, failure_output
from sandloop.errors import ConfigError
from sandloop.items import CallItem, Usage, parse_item, parse_items, parse_response
from sandloop.loop.agent import Agent
from sandloop.loop.api import (
    OnEvent,
    drive,
    open_journal,
    refuse_running_loop,
    release_after,
    sink,
)
from sandloop.loop.journal import Journal, read_journal
from sandloop.loop.result import RunResult
from sandloop.loop.runner import AgentLoop
from sandloop.loop.state import RunState
from sandloop.sandboxes.base import Sandbox
from sandloop.sandboxes.description import sandbox_from_dict

__all__ = ("UNKNOWN_EFFECT", "replay", "resume", "resume_sync")

#: What the model reads for a call the crash cut short.
UNKNOWN_EFFECT = (
    "The run was interrupted (the process crashed) while this call ran, and it was not run "
    "again: whether it took effect is unknown. Check its effect before doing it again."
)

Decisions = dict[str, bool | str]


async def resume(
    source: str | os.PathLike[str] | RunState,
    *,
    agent: Agent | None = None,
    sandbox: Sandbox | None = None,
    client: ResponsesClient | None = None,
    decisions: Decisions | None = None,
    approve: Any = None,
    context: dict[str, Any] | None = None,
    on_event: OnEvent = None,
    journal: str | os.PathLike[str] | None = None,
) -> RunResult:
    """Continue a run from its journal file or from a paused :class:`RunState`.

    Args:
        source: The journal a run wrote (``run(..., journal=PATH)``), or ``result.state`` of a
            run that paused for approvals (``RunState.from_dict`` of its JSON).
        agent: The agent, when the journal could not describe it (function tools defined in
            your code are imported by name; pass the agent when they cannot be).
        sandbox: Where the resumed run works; default a fresh one like the journaled one.
        client: The Responses API client; default one for the journaled base URL.
        decisions: For a paused run: call id to ``True`` (run it), ``False`` or a reason
            (deny it, the model reads the reason).
        approve: Decides later calls; default as the journaled run did (``"defer"`` again).
        context: Values tools see as ``ToolContext.extra``.
        on_event: Event callbacks, as for :func:`sandloop.run`.
        journal: Where to go on journaling; default the journal resumed from (a state: none).

    Returns:
        The run's result; a run the journal shows completed is returned without a request.

    Raises:
        ConfigError: the journal or state is unreadable, newer than this sandloop, or does not
            describe what is needed (pass ``agent=`` / ``sandbox=``); a decision names a call
            that is not waiting.
    """
    if isinstance(source, RunState):
        records, path = list(source.records), journal
    else:
        records, path = read_journal(source), journal if journal is not None else source
    header = records[0]
    description = header.get("run") or {}
    agent = agent if agent is not None else _agent_of(description)
    sandbox = sandbox if sandbox is not None else _sandbox_of(description)
    _check_decisions(records, decisions)
    if approve is None and description.get("approve") == "defer":
        approve = "defer"

    def make(active: ResponsesClient) -> AgentLoop:
        loop = AgentLoop(
            agent,
            parse_items(header.get("input") or []),
            client=active,
            sandbox=sandbox,
            approve=None if approve == "defer" else approve,
            defer=approve == "defer",
            context=context,
            previous_response_id=header.get("previous_response_id"),
            emit=sink(on_event),
            run_id=str(header["run_id"]),
            own_sandbox=sandbox is not None and not sandbox.started,
            description=description,
            decisions=decisions,
            prompt_cache_key=header.get("prompt_cache_key"),
        )
        loop.journal = _continue_journal(path, records, sandbox, fresh=isinstance(source, RunState))
        replay(loop, records)
        return loop

    if client is None and description.get("base_url"):
        async with ResponsesClient(base_url=description["base_url"]) as made:
            return await _drive_or_return(make, made, records)
    return await _drive_or_return(make, client, records)


def resume_sync(source: str | os.PathLike[str] | RunState, **options: Any) -> RunResult:
    """Blocking form of :func:`resume` (starts its own event loop).

    Raises:
        ConfigError: called from inside a running event loop (use ``await resume(...)``).
    """
    refuse_running_loop("resume_sync", "await sandloop.resume(...)")
    work = resume(source, **options)
    return anyio.run(partial(release_after, work, options.get("client")))


async def _drive_or_return(
    make: Any, client: ResponsesClient | None, records: list[dict[str, Any]]
) -> RunResult:
    last = records[-1]
    if last.get("kind") == "end" and last.get("status") == "completed":
        async with ResponsesClient() if client is None else _Borrowed(client) as active:
            loop: AgentLoop = make(active)
            loop.journal.close()
            return loop.result()
    return await drive(make, client)


class _Borrowed:
    """``async with`` over a client that someone else closes."""

    def __init__(self, client: ResponsesClient) -> None:
        self.client = client

    async def __aenter__(self) -> ResponsesClient:
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        return None


def _continue_journal(
    path: str | os.PathLike[str] | None,
    records: list[dict[str, Any]],
    sandbox: Sandbox | None,
    *,
    fresh: bool,
) -> Journal:
    journal = open_journal(path, sandbox)
    if fresh and path is not None:
        for record in records:  # a state resumed into a new journal file: it starts complete
            journal.write(**record)
    journal.records = list(records)
    return journal


def replay(loop: AgentLoop, records: list[dict[str, Any]]) -> None:
    """Put the journaled steps into ``loop``: history, responses, usage, turn, and the outputs
    of the unfinished turn's calls (``loop.recovered``)."""
    finished: dict[str, tuple[Any, Any]] = {}
    started: set[str] = set()
    for record in records[1:]:
        kind = record.get("kind")
        if kind == "request":
            loop.turn = int(record["turn"]) - 1
        elif kind == "response":
            response = parse_response(record["response"])
            loop.turn = int(record["turn"])
            loop.responses.append(response)
            loop.usage = loop.usage + (response.usage or Usage.zero())
            loop.transcript.add_response(response.id, response.output)
            finished, started = {}, set()
        elif kind == "call_started":
            started.add(str(record["call_id"]))
        elif kind == "call_finished":
            note = record.get("note")
            output = parse_item(record["output"])
            finished[str(record["call_id"])] = (output, parse_item(note) if note else None)
        elif kind in ("outputs", "paused"):
            loop.transcript.add(parse_items(record.get("items") or []))
            finished, started = {}, set()
        elif kind == "compacted":
            loop.transcript.compact(parse_items(record.get("items") or []))
    _recover(loop, finished, started)


def _recover(loop: AgentLoop, finished: dict[str, tuple[Any, Any]], started: set[str]) -> None:
    """The unfinished turn: recorded outputs are kept, cut-short calls answered or re-run."""
    calls, _ = loop.transcript.unanswered()
    for call in calls:
        call_id = call_id_of(call)
        if call_id in finished:
            loop.recovered[call_id] = finished[call_id]
        elif call_id in started and not _idempotent(loop.agent, call):
            loop.recovered[call_id] = (failure_output(call, UNKNOWN_EFFECT), None)


def _idempotent(agent: Agent, call: CallItem) -> bool:
    tool = agent.registry.lookup(call)
    return bool(getattr(tool, "idempotent", False))


def _check_decisions(records: list[dict[str, Any]], decisions: Decisions | None) -> None:
    if not decisions:
        return
    waiting = {str(p["call_id"]) for p in RunState("", records).pending}
    unknown = sorted(set(decisions) - waiting)
    if unknown:
        raise ConfigError(
            f"no call is waiting for a decision with id {', '.join(unknown)} "
            f"(waiting: {', '.join(sorted(waiting)) or 'none'})"
        )


def _agent_of(description: dict[str, Any]) -> Agent:
    data = description.get("agent")
    if not isinstance(data, dict):
        why = description.get("agent_error") or "the journal has no agent description"
        raise ConfigError(f"cannot rebuild the agent ({why}): pass agent= to resume()")
    return Agent.from_dict(data)


def _sandbox_of(description: dict[str, Any]) -> Sandbox | None:
    """A fresh, unstarted sandbox like the journaled one (``None`` when the run had none)."""
    data = description.get("sandbox")
    if data is None:
        return None
    if data.get("kind") is None:
        why = data.get("error") or "it was not described"
        raise ConfigError(f"cannot rebuild the run's sandbox ({why}): pass sandbox= to resume()")
    return sandbox_from_dict(data)
