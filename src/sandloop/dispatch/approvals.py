"""Approvals: one user callback decides on tool calls and on MCP approval requests.

Part of ``dispatch``. The policy says which calls need a decision: those of tools marked
``needs_approval=True`` (``"tools"``, the default), every call (``"all"``), or none
(``"never"``). The callback may be sync (run in a worker thread, so it may prompt on a terminal)
or async. It returns ``True`` to allow; ``False`` or raising
:class:`~sandloop.errors.ApprovalDeniedError` (whose message the model reads) refuses.
"""

from __future__ import annotations

import inspect
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread

from sandloop.errors import ApprovalDeniedError, ConfigError
from sandloop.executors.base import ApprovalCallback, ApprovalRequest, Approver, Tool
from sandloop.items import CallItem, McpApprovalRequest, McpApprovalResponse

if TYPE_CHECKING:
    from sandloop.dispatch.registry import ToolRegistry

__all__ = ("ApprovalPolicy", "Approvals")

ApprovalPolicy = Literal["tools", "all", "never"]


class Approvals:
    """The run's approval callback and policy.

    Args:
        callback: The user's callback, or ``None`` (then every call needing approval is denied
            and every MCP approval request refused).
        policy: Which calls need approval: ``"tools"``, ``"all"`` or ``"never"``.
        defer: Leave a call needing approval unanswered (the run pauses) instead of asking.
        decisions: Decisions already taken, by call id: ``True`` allows, ``False`` or a reason
            denies. They are used before the callback is asked, or the call deferred.
    """

    def __init__(
        self,
        callback: ApprovalCallback | None,
        *,
        policy: ApprovalPolicy = "tools",
        defer: bool = False,
        decisions: dict[str, bool | str] | None = None,
    ):
        if policy not in ("tools", "all", "never"):
            raise ConfigError(f"approval policy must be 'tools', 'all' or 'never', not {policy!r}")
        self.callback = callback
        self.policy = policy
        self.defer = defer
        self.decisions: dict[str, bool | str] = dict(decisions or {})
        self.approver: Approver | None = self._ask if callback is not None else None

    def required(self, tool: Tool) -> bool:
        """Whether a call of ``tool`` needs a decision before it runs."""
        if self.policy == "never":
            return False
        return self.policy == "all" or tool.needs_approval

    def required_any(self, registry: ToolRegistry) -> bool:
        """Whether any call of the registry's tools, or of its servers' tools, may need one."""
        if self.policy == "never":
            return False
        if any(self.required(t) for t in registry):
            return True
        servers = registry.servers
        return bool(servers) and (self.policy == "all" or any(s.needs_approval for s in servers))

    async def _ask(self, request: ApprovalRequest) -> bool:
        callback = self.callback
        if callback is None:
            return False
        if inspect.iscoroutinefunction(callback):
            result: Any = await callback(request)
        else:
            result = await anyio.to_thread.run_sync(partial(callback, request))
            if inspect.isawaitable(result):
                result = await result
        return bool(result)

    def decided(self, call_id: str) -> bool | str | None:
        """The decision taken beforehand on a call (``None`` when there is none)."""
        return self.decisions.pop(call_id, None)

    async def ask_call(self, run_id: str, call: CallItem, tool: str, arguments: str) -> bool:
        """Ask whether ``call`` may run. ``False`` when there is no callback.

        Raises:
            ApprovalDeniedError: the callback refused with a reason.
        """
        return await self._ask(ApprovalRequest(run_id, "call", call, tool, arguments))

    async def answer_mcp(self, run_id: str, request: McpApprovalRequest) -> McpApprovalResponse:
        """Decide on an ``mcp_approval_request`` and build its ``mcp_approval_response``."""
        label = request.server_label
        tool = f"{label}.{request.name}" if label else str(request.name)
        asked = ApprovalRequest(run_id, "mcp", request, tool, request.arguments or "")
        reason: str | None = None
        try:
            approve = await self._ask(asked)
        except ApprovalDeniedError as exc:
            approve, reason = False, str(exc) or None
        if not approve and reason is None:
            reason = "denied by the user" if self.callback else "no approval callback configured"
        response = McpApprovalResponse(approval_request_id=request.id, approve=approve)
        if reason is not None:
            response.reason = reason
        return response
