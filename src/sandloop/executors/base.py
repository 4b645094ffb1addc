"""The tool contract: what the dispatcher asks of every tool family.

Sits between ``dispatch`` (which routes call items) and the sandboxes (where most tools run).
Each family — function, custom, shell, local_shell, apply_patch, computer — implements
:class:`Tool`. A tool turns one call item into exactly one output item; when it cannot, it raises
a :class:`~sandloop.errors.ToolError` (the dispatcher writes the failed output the model sees) or
a :class:`~sandloop.errors.SandboxError` (the run stops).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sandloop.executors._budget import OutputBudget
    from sandloop.items import CallItem, McpApprovalRequest
    from sandloop.sandboxes.base import Sandbox

__all__ = (
    "ApprovalCallback",
    "ApprovalRequest",
    "Approver",
    "OutputReporter",
    "Tool",
    "ToolContext",
    "ToolServer",
)


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One decision the run's approval callback is asked to make.

    Attributes:
        run_id: The run asking.
        kind: ``call`` (a tool call about to run), ``mcp`` (an ``mcp_approval_request`` from
            the server) or ``safety_check`` (a computer call's ``pending_safety_checks``).
        call: The item concerned: the call item, or the ``mcp_approval_request``; ``None``
            when a function tool asks on its own account (it is not handed its call item).
        tool: The tool name (function/custom/MCP tools) or the call type (``shell_call``, ...).
        arguments: What the call will do, as text: JSON arguments, custom input, commands, the
            patch operation, or the MCP call's arguments.
        detail: More words for a human, e.g. the safety checks' messages.
    """

    run_id: str
    kind: Literal["call", "mcp", "safety_check"]
    call: CallItem | McpApprovalRequest | None
    tool: str
    arguments: str = ""
    detail: str = ""


#: The user's callback: return ``True`` to allow. It may be sync or async, and may raise
#: :class:`~sandloop.errors.ApprovalDeniedError` to refuse with a reason the model will read.
ApprovalCallback = Callable[[ApprovalRequest], "bool | Awaitable[bool]"]

#: The normalised async form executors receive in :attr:`ToolContext.approver`.
Approver = Callable[[ApprovalRequest], Awaitable[bool]]


#: Where a command tool reports a running command's output: ``(command index, "stdout" or
#: "stderr", text)``. The loop turns each report into a ``ToolOutputDelta`` event.
OutputReporter = Callable[[int, str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a running tool may know about its run. Injected into function tools that ask for it.

    Attributes:
        run_id: The run's unique id (also names its transcript).
        call_id: The call being executed (``call_id``; for ``local_shell_call`` its ``call_id``).
        sandbox: The run's sandbox, or ``None`` when the run has none.
        turn: 1-based number of the model call that produced this call.
        extra: Free-form values the embedder passed to the run (``context=`` on ``run``).
        approver: The run's approval callback (async form), or ``None`` when there is none.
            Executors with decisions of their own to ask (computer safety checks) use
            :meth:`request_approval`.
        output_budget: The tool output the call's response may still hold; command tools
            claim their cap from it before running (``None``: no budget).
        report_output: Where command tools report output while a command runs (``None``:
            nobody listens, and the sandbox is not asked to stream it).
    """

    run_id: str
    call_id: str
    sandbox: Sandbox | None = None
    turn: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    approver: Approver | None = None
    output_budget: OutputBudget | None = None
    report_output: OutputReporter | None = None

    async def request_approval(
        self,
        call: CallItem | McpApprovalRequest | None,
        *,
        kind: Literal["call", "mcp", "safety_check"],
        tool: str,
        arguments: str = "",
        detail: str = "",
    ) -> bool:
        """Ask the run's approval callback; ``False`` (denied) when the run has none.

        Raises:
            ApprovalDeniedError: the callback refused with a reason.
        """
        if self.approver is None:
            return False
        request = ApprovalRequest(self.run_id, kind, call, tool, arguments, detail)
        return await self.approver(request)


@runtime_checkable
class Tool(Protocol):
    """A tool the model can call, and the code that executes its calls.

    Attributes:
        call_type: The wire type of the call items this tool executes (``"function_call"``,
            ``"custom_tool_call"``, ``"shell_call"``, ``"apply_patch_call"``,
            ``"local_shell_call"``, ``"computer_call"``).
        name: The tool name the calls carry (function and custom tools), else ``None``.
        namespace: The ``namespace`` tool this function belongs to, else ``None``.
        sequential: When true, a call of this tool runs alone, never beside another call.
        needs_approval: When true, each call goes through the run's approval callback.
        timeout: Seconds a call may take before it is cancelled; ``None`` for no limit.
    """

    call_type: str
    name: str | None
    namespace: str | None
    sequential: bool
    needs_approval: bool
    timeout: float | None

    def definition(self) -> dict[str, Any]:
        """The entry for the request's ``tools`` list, as wire JSON.

        A function or custom tool whose definition says ``"defer_loading": true`` is deferred:
        it is not sent up front but found by the model through client-side tool search
        (:mod:`sandloop.dispatch.tool_search`), whatever made the tool.
        """
        ...

    async def execute(self, call: Any, ctx: ToolContext) -> Any:
        """Run one call item and return its output item (a ``sandloop.items`` model).

        ``call`` is a :data:`~sandloop.items.CallItem` of this tool's ``call_type`` (the
        registry routes by it); each family's tool declares its own call class, so the contract
        leaves the parameter open rather than make every tool accept every family.
        """
        ...


@runtime_checkable
class ToolServer(Protocol):
    """A source of tools known only once a run connects to it (an MCP server).

    It goes into ``Agent(tools=[...])`` beside the tools; the run connects it before its first
    model request, adds the tools it lists to the run's registry (a name clash is a
    ``ConfigError`` then), and disconnects it when the run ends, however it ends.

    Attributes:
        name: The server's name; its tools are offered under it.
        needs_sandbox: The server runs inside the run's sandbox.
        needs_approval: ``True`` when every tool of the server asks the approval callback, or
            the tool names that do (an empty collection: none).
    """

    name: str
    needs_sandbox: bool
    needs_approval: bool | frozenset[str]

    def connect(self, sandbox: Sandbox | None) -> AbstractAsyncContextManager[Sequence[Tool]]:
        """Start or connect to the server; enter to get its tools, exit to close it.

        Raises:
            MCPStartError: the server would not start or list its tools.
            ConfigError: the server's options cannot be used (a missing ``${VAR}``, no
                sandbox for an in-sandbox server).
        """
        ...
