"""AgentLoop: the agent loop itself — request, record, dispatch, repeat.

Part of ``loop``, the top of the data flow (``loop → dispatch → executors → sandboxes``; the
model is reached through ``client``). :meth:`AgentLoop.run` fits on one screen; each step is a
named method. Events go to one sink (``emit``), so :func:`sandloop.run` and
:func:`sandloop.stream` share this code path. Every step is also written to the run's
:class:`~sandloop.loop.journal.Journal` before the next one starts (see
:mod:`sandloop.loop.resume` for how a journal becomes a running loop again).
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio

from sandloop.client import ResponsesClient, RetryNotice, observing_retries
from sandloop.dispatch import Approvals, CallOutcome, Dispatcher, RunScope, ToolRegistry
from sandloop.dispatch.outputs import call_id_of, call_label, output_key
from sandloop.errors import (
    ApiConnectionError,
    ApiError,
    ConfigError,
    CostBudgetExceeded,
    MaxTurnsExceeded,
    OutputValidationError,
    ResponseFailedError,
    ResponseIncompleteError,
    RunError,
    RunTimeoutError,
    SandboxError,
    TokenBudgetExceeded,
)
from sandloop.executors.base import ApprovalCallback
from sandloop.items import (
    CallItem,
    CompactParams,
    Response,
    ResponseCreatedEvent,
    ResponseTextDeltaEvent,
    Usage,
    dump_item,
)
from sandloop.loop import events as ev
from sandloop.loop.agent import Agent
from sandloop.loop.journal import JOURNAL_VERSION, Journal
from sandloop.loop.output_type import FinalOutput
from sandloop.loop.result import PendingApproval, RunResult, RunStatus, final_text
from sandloop.loop.state import RunState
from sandloop.loop.tool_servers import connected_registry
from sandloop.loop.tracing import traced
from sandloop.loop.transcript import Transcript, client_calls, to_items
from sandloop.loop.workspace import RunWorkspace
from sandloop.pricing import cost_of, default_prices
from sandloop.sandboxes.base import Sandbox

__all__ = ("AgentLoop", "EventSink")

EventSink = Callable[[ev.RunEvent], Awaitable[None]]


async def _drop(event: ev.RunEvent) -> None:
    return None


#: Seconds a run's closing steps (changes, sandbox removal, the last event) may take when the
#: run was cancelled.
_CLOSE_TIMEOUT = 60.0


#: Call statuses of calls that ran (and may have changed the workspace).
_RAN = frozenset({"completed", "failed", "timed_out"})


def needs_sandbox(tool: Any) -> bool:
    """Whether ``tool`` acts in the run's sandbox (built-in tools say so with ``needs_sandbox``;
    other tools are taken not to)."""
    return bool(getattr(tool, "needs_sandbox", False))


class AgentLoop:
    """One run of an agent. Use :func:`sandloop.run` / :func:`sandloop.stream` unless you need
    the loop object itself (e.g. to read :attr:`transcript` after cancelling the run).

    Args:
        agent: What to run.
        input: A user message, or items (also a previous result's ``history`` to resume).
        client: The Responses API client.
        sandbox: Passed to tools through ``ToolContext.sandbox``.
        approve: The approval callback (sync or async).
        context: Values passed to tools as ``ToolContext.extra``.
        previous_response_id: Chain the first request onto this stored response.
        stream: Stream each response (text deltas become :class:`~sandloop.loop.events.TextDelta`).
        emit: Where events go.
        run_id: The run's id; a fresh one when left out.
        own_sandbox: The run starts ``sandbox`` before its first request and removes it when it
            ends (keeping a copied workspace's changes on the result first).
        journal: Where every step is recorded; an in-memory one when left out.
        description: The run's description for the journal header.
        defer: Calls needing approval pause the run (``status="needs_approval"``) instead of
            asking ``approve``.
        decisions: Decisions on calls a paused run deferred: call id to ``True`` (run it),
            ``False`` or a reason (deny it).
        prompt_cache_key: Sent with every request; default one per run (from its id).
    """

    def __init__(
        self,
        agent: Agent,
        input: str | list[Any],
        *,
        client: ResponsesClient,
        sandbox: Sandbox | None = None,
        approve: ApprovalCallback | None = None,
        context: dict[str, Any] | None = None,
        previous_response_id: str | None = None,
        stream: bool = False,
        emit: EventSink | None = None,
        run_id: str | None = None,
        own_sandbox: bool = False,
        journal: Journal | None = None,
        description: dict[str, Any] | None = None,
        defer: bool = False,
        decisions: dict[str, bool | str] | None = None,
        prompt_cache_key: str | None = None,
    ) -> None:
        if previous_response_id is not None and not agent.store:
            raise ConfigError(
                "previous_response_id continues a stored conversation, but this agent has "
                "store=False (stateless: the whole history is resent each turn): pass the "
                "earlier run's result.history as input instead"
            )
        self.agent = agent
        if agent.cost_budget is not None and default_prices().lookup(agent.model) is None:
            raise ConfigError(
                f"cost_budget needs a price for {agent.model!r}, which the price table does not "
                "have: add one with sandloop.pricing.set_price() or SANDLOOP_PRICES=FILE"
            )
        self.client = client
        self.run_id = run_id or f"run_{uuid.uuid4().hex[:16]}"
        self.transcript = Transcript(
            to_items(input), stateless=not agent.store, previous_response_id=previous_response_id
        )
        self.responses: list[Response] = []
        self.usage = Usage.zero()
        self.turn = 0
        self.status: RunStatus = "completed"
        self._first_output = len(self.transcript.log)
        self._stream = stream and not agent.background
        self._emit = traced(
            emit or _drop,
            agent,
            sandbox=sandbox,
            base_url=getattr(client, "base_url", None),
            request_input=lambda: self.transcript.request_input(),
        )
        approvals = Approvals(
            approve, policy=agent.approval_policy, defer=defer, decisions=decisions
        )
        if approve is None and not defer and approvals.required_any(agent.registry):
            raise ConfigError("some tools need approval: pass approve= (a callback) to the run")
        _check_sandbox(agent, sandbox)
        self.workspace = RunWorkspace(sandbox, owned=own_sandbox)
        self.pending_approvals: list[PendingApproval] = []
        self._scope = RunScope(self.run_id, sandbox, dict(context or {}))
        self._dispatcher = Dispatcher(
            agent.registry,
            approvals=approvals,
            max_concurrency=agent.max_concurrency,
            listener=self._on_call,
            output_listener=self._on_output if emit is not None else None,
            max_calls=agent.max_calls_per_response,
            max_output=agent.max_tool_output_per_response,
            # Tools a tool search loaded are read from the history: a resumed run keeps them.
            history=self.transcript.log,
            continues=previous_response_id is not None,
        )
        key = prompt_cache_key or agent.request_options.get("prompt_cache_key")
        self.prompt_cache_key = str(key or f"sandloop-{self.run_id}")
        self._base = self._base_body()
        self.journal = journal if journal is not None else Journal()
        #: Outputs a resumed run already has for its pending calls (call id to output, note).
        self.recovered: dict[str, tuple[Any, Any]] = {}
        self._description = description or {}
        #: Calls started and not finished: their ``ToolCallFinished`` is owed at the run's end.
        self._open_calls: dict[str, tuple[str, float]] = {}
        schema = agent.output_schema
        self._output = FinalOutput(schema, agent.output_retries) if schema is not None else None

    async def run(self) -> RunResult:
        """Run until a completed response asks for nothing more; return the result.

        Raises:
            MaxTurnsExceeded, RunTimeoutError, ResponseIncompleteError: with ``.result``.
            ResponseFailedError: the model call failed (``.result`` set too).
            SandboxError: the sandbox died; the history was settled first.
        """
        await self._emit(ev.RunStarted(self.run_id, self.agent.model, self.transcript.stateless))
        try:
            with self._guard():
                await self._open()
                async with connected_registry(self.agent.registry, self._scope.sandbox) as tools:
                    self._use_tools(tools)
                    await self._turns()
        except BaseException as exc:
            await self._close(exc)
            raise
        await self._close(None)
        return self.result()

    async def _turns(self) -> None:
        """Model calls and their tool calls, until the final answer or a pause."""
        paused = await self._finish_pending_turn()
        while not paused and not self._final_answer_given():
            self._check_turn_limit()
            response = await self._call_model()
            calls, approvals = client_calls(response.output)
            self._check_status(response)
            if calls or approvals:
                paused = await self._run_turn(calls, approvals)
            elif not self._asked_again():
                break

    def _use_tools(self, registry: ToolRegistry) -> None:
        """Use the run's registry (the agent's tools plus its connected servers' tools)."""
        if registry is self._dispatcher.registry:
            return
        self._dispatcher.registry = registry
        self._base = self._base_body(registry)

    async def _run_turn(self, calls: list[Any], approvals: list[Any]) -> bool:
        """Answer one response's calls; ``True`` when the run pauses for decisions."""
        answers = await self._answer_approvals(approvals)
        outputs = await self._run_calls(calls)
        if self.pending_approvals:
            self._pause(answers + outputs)
            return True
        items = [dump_item(i) for i in answers + outputs]
        self.journal.write("outputs", turn=self.turn, items=items)
        await self.workspace.record(self.journal, self.turn)
        await self._compact_if_needed()
        self._check_budget()
        return False

    def _final_answer_given(self) -> bool:
        """A resumed run whose last response already was the final answer has nothing to do
        (unless a typed answer, checked now, is asked again)."""
        if not self.responses or self.transcript.pending:
            return False
        last = self.responses[-1]
        calls, approvals = client_calls(last.output)
        done = last.status == "completed" and not calls and not approvals
        return done and not self._asked_again()

    def _asked_again(self) -> bool:
        """Check a typed agent's final answer: ``True`` when it did not validate and the model
        was told what was wrong (a user message, journaled), to answer again.

        Raises:
            OutputValidationError: it did not validate and no ``output_retries`` are left.
        """
        if self._output is None:
            return False
        try:
            retry = self._output.check(final_text(self.transcript.log[self._first_output :]))
        except OutputValidationError:
            self.status = "invalid_output"
            raise
        if retry is None:
            return False
        self.transcript.add([retry])
        self.journal.write("outputs", turn=self.turn, items=[dump_item(retry)])
        return True

    async def _finish_pending_turn(self) -> bool:
        """A resumed run first answers the calls its last response left unanswered."""
        calls, approvals = self.transcript.unanswered()
        if not calls and not approvals:
            return False
        return await self._run_turn(calls, approvals)

    # --- owning and closing -----------------------------------------------------------------

    async def _open(self) -> None:
        """Write the header (a fresh run), then start an owned sandbox."""
        if not self.journal.records:
            self.journal.write(
                "header",
                version=JOURNAL_VERSION,
                run_id=self.run_id,
                prompt_cache_key=self.prompt_cache_key,
                run=self._description,
                stateless=self.transcript.stateless,
                previous_response_id=self.transcript.previous_response_id,
                input=[dump_item(i) for i in self.transcript.log],
            )
        await self.workspace.open(self.journal)

    async def _close(self, error: BaseException | None) -> None:
        """Keep the changes, remove an owned sandbox, end the journal, emit ``RunEnded``.

        Shielded: this also runs when the run was cancelled (Ctrl-C included).
        """
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT):
            try:
                await self.workspace.release(self.journal, self.turn, error)
            except SandboxError as exc:
                error = error or exc
            if self.status != "needs_approval":
                self.journal.write("end", status=self.status)
            self.journal.close()
            await self._finish_open_calls()
            result = self.result()
            if error is not None:
                with contextlib.suppress(AttributeError):
                    error.result = result  # type: ignore[attr-defined]
            await self._emit(ev.RunEnded(self.run_id, result, error))

    async def _finish_open_calls(self) -> None:
        """Every started call gets its ``ToolCallFinished``: ``cancelled`` when the run stopped
        under it, with the output the history settled it with."""
        outputs = {output_key(i): i for i in self.transcript.log}
        for call_id, (tool, start) in list(self._open_calls.items()):
            output = outputs.get(call_id)
            error = getattr(output, "output", None) if output is not None else None
            await self._emit(
                ev.ToolCallFinished(
                    self.run_id,
                    self.turn,
                    call_id,
                    tool,
                    "cancelled",
                    time.perf_counter() - start,
                    output,
                    error if isinstance(error, str) else "the run stopped while the call ran",
                )
            )
        self._open_calls.clear()

    def _pause(self, outputs: list[Any]) -> None:
        """Stop for decisions: the answered calls' outputs go in, the deferred ones wait."""
        self.status = "needs_approval"
        self.journal.write(
            "paused",
            turn=self.turn,
            items=[dump_item(i) for i in outputs],
            pending=[p.to_dict() for p in self.pending_approvals],
        )

    # --- steps ------------------------------------------------------------------------------

    def _check_turn_limit(self) -> None:
        if self.turn >= self.agent.max_turns:
            self.status = "max_turns"
            raise MaxTurnsExceeded(
                f"the run used its {self.agent.max_turns} model calls without a final answer",
                result=self.result(),
            )

    def _check_budget(self) -> None:
        budget = self.agent.token_budget
        if budget is not None and self.usage.total_tokens > budget:
            self.status = "token_budget"
            raise TokenBudgetExceeded(
                f"the run used {self.usage.total_tokens} tokens, over its budget of {budget}",
                result=self.result(),
            )
        dollars = self.agent.cost_budget
        if dollars is None:
            return
        cost = cost_of(self.responses, model=self.agent.model)
        if cost.total is None:
            self.status = "cost_budget"
            raise CostBudgetExceeded(
                f"a model call was served by {', '.join(cost.unpriced)}, which has no price, so "
                f"the cost budget of ${dollars:g} cannot be kept: stopped",
                result=self.result(),
            )
        if cost.total > dollars:
            self.status = "cost_budget"
            raise CostBudgetExceeded(
                f"the run cost ${cost.total:.4f}, over its budget of ${dollars:g}",
                result=self.result(),
            )

    async def _call_model(self) -> Response:
        self.turn += 1
        await self._emit(ev.TurnStarted(self.run_id, self.turn))
        body = self._request_body()
        self.journal.write("request", turn=self.turn)
        response = await (self._stream_response(body) if self._stream else self._create(body))
        self.journal.write("response", turn=self.turn, response=response.to_wire())
        self.responses.append(response)
        if response.usage is not None:
            self.usage = self.usage + response.usage
        self.transcript.add_response(response.id, response.output)
        pending = len(client_calls(response.output)[0])
        usage = response.usage or Usage.zero()
        await self._emit(ev.TurnEnded(self.run_id, self.turn, response, usage, pending))
        return response

    def _check_status(self, response: Response) -> None:
        if response.status == "incomplete":
            reason = response.incomplete_details.reason if response.incomplete_details else None
            self.status = "incomplete"
            self.transcript.settle("Not run: the response was incomplete.")
            raise ResponseIncompleteError(
                f"the model stopped early ({reason or 'no reason given'})",
                result=self.result(),
                reason=reason,
            )

    async def _answer_approvals(self, requests: list[Any]) -> list[Any]:
        answers = [await self._dispatcher.approvals.answer_mcp(self.run_id, r) for r in requests]
        self.transcript.add(answers)
        return answers

    async def _run_calls(self, calls: list[Any]) -> list[Any]:
        """Run the calls; returns (and adds to the history) their outputs and notes."""
        results: list[CallOutcome] = []
        recovered = {
            c: self.recovered.pop(c) for c in map(call_id_of, calls) if c in self.recovered
        }
        deferred: list[Any] = []
        todo = [c for c in calls if call_id_of(c) not in recovered]
        added: list[Any] = []
        try:
            await self._dispatcher.run(
                todo, scope=self._scope, turn=self.turn, results=results, deferred=deferred
            )
        finally:
            # Also after a cancellation or a dead sandbox: what finished goes in, in call order.
            done = {call_id_of(r.call): (r.output, r.note) for r in results}
            done.update(recovered)
            ordered = [done[c] for c in map(call_id_of, calls) if c in done]
            added = [o for o, _ in ordered] + [n for _, n in ordered if n is not None]
            self.transcript.add(added)
        self.pending_approvals = [PendingApproval.of(c) for c in deferred]
        return added

    async def _compact_if_needed(self) -> None:
        threshold = self.agent.compact_threshold
        last = self.responses[-1].usage if self.responses else None
        if self.agent.compaction != "client" or threshold is None or last is None:
            return
        older = self.transcript.compactable()
        if last.input_tokens + last.output_tokens < threshold or not older:
            return
        before = len(self.transcript.history)
        params = CompactParams(model=self.agent.model, input=older)
        if self.transcript.base_response_id is not None:
            params.previous_response_id = self.transcript.base_response_id
        if self.agent.instructions is not None:
            params.instructions = self.agent.instructions
        compacted = await self.client.compact(params)
        if compacted.usage is not None:
            self.usage = self.usage + compacted.usage
        self.transcript.compact(compacted.output)
        self.journal.write(
            "compacted", turn=self.turn, items=[dump_item(i) for i in compacted.output]
        )
        after = len(self.transcript.history)
        await self._emit(ev.Compacted(self.run_id, self.turn, before, after))

    # --- requests ---------------------------------------------------------------------------

    def _base_body(self, registry: ToolRegistry | None = None) -> dict[str, Any]:
        agent = self.agent
        body: dict[str, Any] = dict(agent.request_options)
        body["model"] = agent.model
        # One key per run, kept by a resumed run: its requests hit the same prompt cache.
        body["prompt_cache_key"] = self.prompt_cache_key
        if agent.instructions is not None:
            body["instructions"] = agent.instructions
        tools = (registry or agent.registry).definitions()
        if tools:
            body["tools"] = tools
        if agent.reasoning is not None:
            body["reasoning"] = dict(agent.reasoning)
        if agent.output_schema is not None:
            body["text"] = agent.output_schema.request_text(body.get("text"))
        if not agent.store:
            body["store"] = False
            include = list(body.get("include") or [])
            if "reasoning.encrypted_content" not in include:
                include.append("reasoning.encrypted_content")
            body["include"] = include
        if agent.background:
            body["background"] = True
        if agent.compaction == "server" and agent.compact_threshold is not None:
            threshold = max(1000, agent.compact_threshold)  # the API's minimum
            body["context_management"] = [{"type": "compaction", "compact_threshold": threshold}]
        return body

    def _request_body(self) -> dict[str, Any]:
        body = dict(self._base)
        body["input"] = self.transcript.request_input()
        if self.transcript.previous_response_id is not None:
            body["previous_response_id"] = self.transcript.previous_response_id
        return body

    async def _create(self, body: dict[str, Any]) -> Response:
        with observing_retries(self._client_retrying):
            response = await self.client.create(body)
        await self._emit(ev.ResponseCreated(self.run_id, self.turn, response.id))
        return response

    async def _stream_response(self, body: dict[str, Any]) -> Response:
        """Stream one response; a stream cut before its end is sent again, the same body.

        The client retries what fails before the stream opens; a cut after some events is
        retried here, where the partial answer is simply dropped (items come only from a
        completed response). A malformed stream is not retried: it would fail the same way.
        """
        policy = self.client.retry
        retry = 0
        while True:
            outcome = await self._stream_once(body)
            if isinstance(outcome, Response):
                return outcome
            if retry >= policy.max_retries:
                raise outcome
            delay = policy.delay(retry)
            retry += 1
            args = (self.run_id, self.turn, retry, outcome, delay, policy.max_retries)
            await self._emit(ev.ResponseRetrying(*args))
            await anyio.sleep(delay)

    async def _client_retrying(self, n: RetryNotice) -> None:
        """The client is about to send this turn's request again: tell the event sink."""
        args = (self.run_id, self.turn, n.retry, n.error, n.delay, n.max_retries)
        await self._emit(ev.ResponseRetrying(*args, cut=False))

    async def _stream_once(self, body: dict[str, Any]) -> Response | ApiConnectionError:
        """The streamed Response, or the connection error that cut it after it opened."""
        with observing_retries(self._client_retrying):
            return await self._read_stream(body)

    async def _read_stream(self, body: dict[str, Any]) -> Response | ApiConnectionError:
        async with self.client.stream(body) as stream:
            events = aiter(stream)
            while True:
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    return stream.response
                except ApiConnectionError as exc:  # timeouts included
                    return exc
                if isinstance(event, ResponseTextDeltaEvent):
                    await self._emit(
                        ev.TextDelta(self.run_id, self.turn, event.item_id, event.delta)
                    )
                elif isinstance(event, ResponseCreatedEvent):
                    await self._emit(ev.ResponseCreated(self.run_id, self.turn, event.response.id))

    async def _on_call(self, index: int, call: CallItem, outcome: CallOutcome | None) -> None:
        tool = call_label(call)
        if outcome is None:
            self._open_calls[call_id_of(call)] = (tool, time.perf_counter())
            self.journal.write("call_started", turn=self.turn, call_id=call_id_of(call), tool=tool)
            await self._emit(
                ev.ToolCallStarted(self.run_id, self.turn, call_id_of(call), tool, call)
            )
            return
        self.journal.write(
            "call_finished",
            turn=self.turn,
            call_id=call_id_of(call),
            status=outcome.status,
            output=dump_item(outcome.output),
            note=dump_item(outcome.note) if outcome.note is not None else None,
        )
        self._open_calls.pop(call_id_of(call), None)
        ran = outcome.status in _RAN and needs_sandbox(self._dispatcher.registry.lookup(call))
        if ran and self.journal.path is not None:
            # A copy lives only in the sandbox: journal what this call changed, so a crash
            # before the turn's end does not lose the effect of a call it will not re-run.
            await self.workspace.record(self.journal, self.turn)
        await self._emit(
            ev.ToolCallFinished(
                self.run_id,
                self.turn,
                call_id_of(call),
                tool,
                outcome.status,
                outcome.duration,
                outcome.output,
                outcome.error,
                outcome.exception,
            )
        )

    async def _on_output(self, call: CallItem, command: int, stream: str, text: str) -> None:
        call_id, tool = call_id_of(call), call_label(call)
        await self._emit(
            ev.ToolOutputDelta(self.run_id, self.turn, call_id, tool, command, stream, text)
        )

    # --- results and failures ---------------------------------------------------------------

    def result(self) -> RunResult:
        """The result so far (partial while the run goes on or after it failed)."""
        log = self.transcript.log
        text = final_text(log[self._first_output :])
        final: Any = text
        if self._output is not None and self.status == "completed":
            final = self._output.value(text)  # the typed answer
        return RunResult(
            run_id=self.run_id,
            status=self.status,
            final_output=final,
            output_text=text,
            items=list(log),
            responses=list(self.responses),
            usage=self.usage,
            turns=self.turn,
            history=list(self.transcript.history),
            last_response_id=self.responses[-1].id if self.responses else None,
            pending_input=list(self.transcript.pending),
            changes=self.workspace.changes,
            pending_approvals=list(self.pending_approvals),
            state=self._state(),
        )

    def _state(self) -> RunState | None:
        if self.status != "needs_approval":
            return None
        return RunState(self.run_id, list(self.journal.records))

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Apply the run timeout; on any way out but success, leave a history valid to resend."""
        deadline = self.agent.timeout if self.agent.timeout is not None else math.inf
        # move_on_after, not fail_after: a TimeoutError raised by the user's own code (an
        # approval or event callback) must stay theirs, not pass for the run's time limit.
        limit = anyio.move_on_after(deadline)
        try:
            with limit:
                yield
        except anyio.get_cancelled_exc_class():
            self._stop("cancelled", "Not run: the run was cancelled.")
            raise
        except SandboxError:
            self._stop("sandbox_error", "Not run: the sandbox stopped working.")
            raise
        except ResponseFailedError as exc:
            if exc.response is not None:
                self.responses.append(exc.response)
            self._stop("failed", "Not run: the response failed.")
            exc.result = self.result()
            raise
        except ApiError:
            self._stop("failed", "Not run: the model call failed.")
            raise
        except RunError:
            raise  # the loop's own stops: status set, history valid
        except Exception:
            # Anything else (a callback of the user's that raised, a bug): still settle.
            self._stop("failed", "Not run: the run stopped on an error.")
            raise
        if limit.cancelled_caught:
            self._stop("timeout", "Not run: the run's time limit passed.")
            message = f"the run took longer than its {self.agent.timeout:g} s limit"
            raise RunTimeoutError(message, result=self.result())

    def _stop(self, status: RunStatus, message: str) -> None:
        self.status = status
        self.transcript.settle(message)


def _check_sandbox(agent: Agent, sandbox: Sandbox | None) -> None:
    """A run whose tools act in a sandbox needs one, before any model request is paid for."""
    if sandbox is not None:
        return
    names = [
        t.name or t.call_type.removesuffix("_call") for t in agent.registry if needs_sandbox(t)
    ] + [f"MCP server {s.name!r}" for s in agent.registry.servers if s.needs_sandbox]
    if names:
        raise ConfigError(
            f"the tools {', '.join(names)} act in a sandbox, but this run has none: pass "
            "sandbox=DockerSandbox(workspace=...) (or LocalSandbox) to the run"
        )
