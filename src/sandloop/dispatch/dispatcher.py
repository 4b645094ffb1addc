"""The dispatcher: runs the client calls of one response and collects one output per call.

Part of ``dispatch`` (``loop → dispatch → executors``). For each call it asks for approval when
needed, finds the tool in the :class:`~sandloop.dispatch.registry.ToolRegistry`, runs it under
its timeout, and turns every failure into an output item the model can act on. Calls run
concurrently in an anyio task group under a limit; a ``sequential`` tool's call runs alone.
Outputs keep call order. A :class:`~sandloop.errors.SandboxError` is the exception: it cancels
the batch and stops the run.

Two budgets bound what one response can make the host do: calls past ``max_calls`` are answered
"too many calls in one response" without running, and every call draws the output it keeps from
one :class:`~sandloop.executors.OutputBudget` of ``max_output`` characters (command tools claim
their cap before running; a function or custom tool's text is checked when it returns).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import anyio
import anyio.abc

from sandloop.dispatch.approvals import Approvals
from sandloop.dispatch.outputs import (
    call_arguments_text,
    call_id_of,
    call_label,
    failure_note,
    failure_output,
    output_key,
)
from sandloop.dispatch.registry import ToolRegistry
from sandloop.dispatch.tool_search import ToolSearchSession
from sandloop.errors import ApprovalDeniedError, SandboxError, ToolArgumentsError, ToolError
from sandloop.executors._budget import DEFAULT_MAX_TOOL_OUTPUT, OutputBudget
from sandloop.executors.base import Tool, ToolContext
from sandloop.items import CallItem, CustomToolCallOutput, FunctionCallOutput, InvalidCall, Message
from sandloop.sandboxes.base import Sandbox

__all__ = ("DEFAULT_MAX_CALLS", "CallOutcome", "CallStatus", "Dispatcher", "RunScope")

#: Calls of one response that are run; the rest are answered without running.
DEFAULT_MAX_CALLS = 256

CallStatus = Literal[
    "completed", "failed", "invalid_arguments", "unknown_tool", "denied", "timed_out", "cancelled"
]


@dataclass(frozen=True, slots=True)
class RunScope:
    """What every call of a run shares: ids, sandbox, the embedder's values.

    Attributes:
        run_id: The run's id.
        sandbox: The run's sandbox, or ``None``.
        extra: The embedder's ``context=`` values, passed to tools as ``ToolContext.extra``.
    """

    run_id: str
    sandbox: Sandbox | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What happened to one call.

    Attributes:
        index: The call's position in the response's calls.
        call: The call item.
        output: Its output item.
        status: How it ended.
        duration: Seconds from start to finish (0 for calls that never ran).
        error: The message given to the model when the call did not complete.
        note: An extra item to append after the output (for outputs that cannot hold text).
        exception: The exception the tool raised, when it raised one (for tracing).
    """

    index: int
    call: CallItem
    output: Any
    status: CallStatus
    duration: float = 0.0
    error: str | None = None
    note: Message | None = None
    exception: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _Batch:
    """The calls of one response being dispatched, and the outcomes recorded so far."""

    calls: Sequence[CallItem]
    scope: RunScope
    turn: int
    done: dict[int, CallOutcome]
    deferred: list[CallItem]
    budget: OutputBudget


#: What ``_approval`` answers for a call whose decision is deferred (the run pauses).
_DEFERRED = "\x00deferred"

#: Called when a call starts (``outcome is None``) and when it finishes.
CallListener = Callable[[int, CallItem, "CallOutcome | None"], Awaitable[None]]
#: Called with a running call's command output: ``(call, command index, stream, text)``.
OutputListener = Callable[[CallItem, int, str, str], Awaitable[None]]


class Dispatcher:
    """Runs calls through their tools. One per run.

    Args:
        registry: The tools.
        approvals: Who decides on calls that need approval.
        max_concurrency: How many calls of one response run at once.
        listener: Told when each call starts and finishes (the loop turns this into events).
        output_listener: Told what a running command prints (command tools report it through
            ``ToolContext.report_output``); ``None``: commands do not stream their output.
        max_calls: Calls of one response that run; later ones get a failed output.
        max_output: Characters of tool output one response's calls may keep, all together.
        history: The run's items (its transcript log): when some tools are deferred, the
            run's :class:`~sandloop.dispatch.tool_search.ToolSearchSession` reads what is loaded
            from it. It answers ``tool_search_call`` items (without approval: it runs nothing)
            and refuses calls to deferred tools no search loaded.
        continues: The run continues a stored conversation it did not see (see
            ``ToolSearchSession``).
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        approvals: Approvals,
        max_concurrency: int = 8,
        listener: CallListener | None = None,
        output_listener: OutputListener | None = None,
        max_calls: int = DEFAULT_MAX_CALLS,
        max_output: int = DEFAULT_MAX_TOOL_OUTPUT,
        history: Sequence[Any] = (),
        continues: bool = False,
    ) -> None:
        self._history = history
        self._continues = continues
        self.registry = registry
        self.max_calls = max_calls
        self.max_output = max_output
        self.approvals = approvals
        self._limiter = anyio.CapacityLimiter(max(1, max_concurrency))
        self._listener = listener
        self._output_listener = output_listener

    @property
    def registry(self) -> ToolRegistry:
        """The tools calls are routed to (a run may swap in one with more tools)."""
        return self._registry

    @registry.setter
    def registry(self, registry: ToolRegistry) -> None:
        self._registry = registry
        #: The run's tool search, when some tools are deferred.
        self.tool_search = ToolSearchSession.for_run(
            registry, self._history, continues=self._continues
        )

    async def run(
        self,
        calls: Sequence[CallItem],
        *,
        scope: RunScope,
        turn: int,
        results: list[CallOutcome],
        deferred: list[CallItem] | None = None,
    ) -> None:
        """Run ``calls`` and append one outcome per call to ``results``, in call order.

        ``results`` is filled as calls finish, so after a cancellation or a
        ``SandboxError`` the caller still sees what finished (and answers the rest itself).
        Calls whose approval is deferred get no outcome: they go to ``deferred``.

        Raises:
            SandboxError: a tool reported its sandbox unusable; other calls were cancelled.
        """
        batch = _Batch(
            calls,
            scope,
            turn,
            {},
            deferred if deferred is not None else [],
            OutputBudget(self.max_output),
        )
        try:
            runnable = await self._decide(batch)
            await self._run_groups(batch, runnable)
        finally:
            results.extend(batch.done[i] for i in sorted(batch.done))

    async def _decide(self, batch: _Batch) -> list[tuple[int, Tool]]:
        """Route each call and ask approvals in call order; settle the ones that cannot run."""
        runnable: list[tuple[int, Tool]] = []
        for index, call in enumerate(batch.calls):
            if index >= self.max_calls:
                message = (
                    f"Not run: too many calls in one response (only the first {self.max_calls} "
                    "run). Send the rest in a later response."
                )
                await self._settle(batch.done, index, call, "failed", message)
                continue
            if isinstance(call, InvalidCall):
                message = (
                    f"This {call.type} was not run: {call.problem}. "
                    "Send the call again with every required field."
                )
                await self._settle(batch.done, index, call, "invalid_arguments", message)
                continue
            tool, refusal = self._lookup(call)
            if tool is None:
                message = refusal or self._unknown(call)
                await self._settle(batch.done, index, call, "unknown_tool", message)
                continue
            searching = tool is self.tool_search
            denial = None if searching else await self._approval(call, tool, batch.scope)
            if denial is _DEFERRED:
                batch.deferred.append(call)
                continue
            if denial is not None:
                await self._settle(batch.done, index, call, "denied", denial)
                continue
            runnable.append((index, tool))
        return runnable

    def _unknown(self, call: CallItem) -> str:
        known = ", ".join(self.registry.names()) or "none"
        more = " (more can be found with tool_search)" if self.registry.deferred() else ""
        return f"Unknown tool {call_label(call)!r}. Available tools: {known}{more}."

    def _lookup(self, call: CallItem) -> tuple[Tool | None, str | None]:
        """The tool answering ``call``, or ``None`` and (a deferred tool not loaded) why."""
        tool = self.registry.lookup(call)
        if self.tool_search is None:
            return tool, None
        return self.tool_search.route(call, tool)

    async def _approval(self, call: CallItem, tool: Tool, scope: RunScope) -> str | None:
        """``None`` to run the call, the denial's words, or ``_DEFERRED``."""
        if not self.approvals.required(tool):
            return None
        decision = self.approvals.decided(call_id_of(call))
        if decision is True:
            return None
        if decision is False:
            return f"The user denied this {call_label(call)} call. Do not retry it as is."
        if isinstance(decision, str):
            return f"The user denied this {call_label(call)} call: {decision}"
        if self.approvals.defer:
            return _DEFERRED
        try:
            allowed = await self.approvals.ask_call(
                scope.run_id, call, call_label(call), call_arguments_text(call, exact=True)
            )
        except ApprovalDeniedError as exc:
            return f"The user denied this {call_label(call)} call: {exc}"
        if allowed:
            return None
        return f"The user denied this {call_label(call)} call. Do not retry it as is."

    async def _run_groups(self, batch: _Batch, runnable: list[tuple[int, Tool]]) -> None:
        """Run the calls in groups: consecutive concurrent ones together, sequential ones alone."""
        group: list[tuple[int, Tool]] = []
        for index, tool in runnable:
            if tool.sequential:
                await self._run_group(batch, group)
                await self._run_group(batch, [(index, tool)])
                group = []
            else:
                group.append((index, tool))
        await self._run_group(batch, group)

    async def _run_group(self, batch: _Batch, group: list[tuple[int, Tool]]) -> None:
        if not group:
            return
        fatal: list[SandboxError] = []
        async with anyio.create_task_group() as tg:
            for index, tool in group:
                tg.start_soon(self._guarded, batch, index, tool, fatal, tg)
        if fatal:
            raise fatal[0]

    async def _guarded(
        self,
        batch: _Batch,
        index: int,
        tool: Tool,
        fatal: list[SandboxError],
        group: anyio.abc.TaskGroup,
    ) -> None:
        try:
            async with self._limiter:
                await self._execute(batch, index, tool)
        except SandboxError as exc:
            # The sandbox is gone: cancel the batch's other calls; the run re-raises it (kept
            # out of the task group so callers see a SandboxError, not an ExceptionGroup).
            fatal.append(exc)
            group.cancel_scope.cancel()

    async def _execute(self, batch: _Batch, index: int, tool: Tool) -> None:
        call = batch.calls[index]
        ctx = ToolContext(
            run_id=batch.scope.run_id,
            call_id=call_id_of(call),
            sandbox=batch.scope.sandbox,
            turn=batch.turn,
            extra=batch.scope.extra,
            approver=self.approvals.approver,
            output_budget=batch.budget,
            report_output=partial(self._output_listener, call) if self._output_listener else None,
        )
        if self._listener is not None:
            await self._listener(index, call, None)
        start = time.perf_counter()
        output, status, error, raised = await _invoke(tool, call, ctx)
        if error is None:
            error = _over_budget(call, output, batch.budget)
            status = "failed" if error is not None else status
        duration = time.perf_counter() - start
        if error is not None:
            output = failure_output(call, error, timed_out=status == "timed_out")
        note = failure_note(call, error) if error is not None else None
        outcome = CallOutcome(index, call, output, status, duration, error, note, raised)
        await self._record(batch.done, outcome)

    async def _settle(
        self,
        done: dict[int, CallOutcome],
        index: int,
        call: CallItem,
        status: CallStatus,
        error: str,
    ) -> None:
        output = failure_output(call, error)
        outcome = CallOutcome(index, call, output, status, 0.0, error, failure_note(call, error))
        if self._listener is not None:
            await self._listener(index, call, None)
        await self._record(done, outcome)

    async def _record(self, done: dict[int, CallOutcome], outcome: CallOutcome) -> None:
        done[outcome.index] = outcome
        if self._listener is not None:
            await self._listener(outcome.index, outcome.call, outcome)


async def _invoke(
    tool: Tool, call: CallItem, ctx: ToolContext
) -> tuple[Any, CallStatus, str | None, BaseException | None]:
    """Run one call under its tool's timeout: ``(output, status, error for the model, the
    exception it raised)``.

    Raises:
        SandboxError: the tool found its sandbox unusable.
    """
    status: CallStatus = "completed"
    error: str | None = None
    output: Any = None
    raised: BaseException | None = None
    with anyio.move_on_after(tool.timeout) as deadline:
        try:
            output = await tool.execute(call, ctx)
        except SandboxError:
            raise
        except ToolArgumentsError as exc:
            status, error, raised = "invalid_arguments", str(exc), exc
        except ToolError as exc:
            status, error, raised = "failed", f"{call_label(call)} failed: {exc}", exc
        except Exception as exc:
            status, error, raised = "failed", _describe_crash(call, exc), exc
    if deadline.cancelled_caught:
        status = "timed_out"
        error = f"{call_label(call)} timed out after {tool.timeout:g} seconds and was stopped."
    elif error is None and output_key(output) != call_id_of(call):
        # A broken executor must not break the conversation: the model gets a failure.
        status, error = "failed", f"{call_label(call)} returned no output for this call."
    elif error is None and getattr(output, "status", None) == "failed":
        # The output itself says the call failed (an apply_patch that did not apply): the
        # event says so too, with the words the model reads.
        text = getattr(output, "output", None)
        status, error = "failed", text if isinstance(text, str) and text else "failed"
    return output, status, error, raised


def _over_budget(call: CallItem, output: Any, budget: OutputBudget) -> str | None:
    """Charge a function or custom tool's text output; the failure message when it does not fit.

    Command tools claim from the budget themselves, before they run.
    """
    if not isinstance(output, FunctionCallOutput | CustomToolCallOutput):
        return None
    if not isinstance(output.output, str):
        return None
    size = len(output.output)
    granted = budget.claim(size)
    if granted == size:
        return None
    budget.refund(granted)
    return (
        f"{call_label(call)} returned {size} characters: more than this response's tool output "
        f"budget has left ({granted} of {budget.total}). Return less, or make fewer calls at once."
    )


def _describe_crash(call: CallItem, exc: Exception) -> str:
    text = str(exc) or "(no message)"
    return f"{call_label(call)} raised {type(exc).__name__}: {text}"
