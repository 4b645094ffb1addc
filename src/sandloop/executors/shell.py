"""The ``shell`` tool: run a ``shell_call``'s commands in the sandbox.

Part of ``executors`` (``dispatch → executors → sandboxes``): the dispatcher hands each
``shell_call`` to :meth:`ShellTool.execute`, which runs ``action.commands`` one after another
through :meth:`Sandbox.exec <sandloop.sandboxes.base.Sandbox.exec>` and answers with one
``shell_call_output`` holding one ``{stdout, stderr, outcome}`` entry per command.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from sandloop.errors import ConfigError, ToolError
from sandloop.executors._budget import OutputBudget
from sandloop.executors._commands import (
    DEFAULT_MAX_OUTPUT_LENGTH,
    DEFAULT_TIMEOUT,
    MAX_OUTPUT_LENGTH,
    MAX_TIMEOUT,
    CommandLimits,
    CommandOutput,
    TextReporter,
    run_within_budget,
    sandbox_of,
)
from sandloop.executors.base import ToolContext
from sandloop.items import (
    ShellCall,
    ShellCallOutput,
    ShellCallOutputContent,
    ShellExitOutcome,
    ShellOutcome,
    ShellTimeoutOutcome,
)
from sandloop.sandboxes.base import Sandbox

__all__ = ("ShellTool",)


class ShellTool:
    """The ``shell`` tool: the model runs shell commands in the run's sandbox.

    Each command of a call runs with ``bash -c`` in the sandbox's workspace (``/workspace`` in a
    ``DockerSandbox``), one after another; every command runs even when an earlier one failed or
    timed out, and each gets its own entry in the output. Shell state does not carry over: each
    command starts in the workspace with the sandbox's environment, so a ``cd`` or ``export``
    lasts only for its own command (chain with ``&&`` to keep it).

    Timeouts: each command gets the call's ``timeout_ms``, or ``default_timeout`` seconds when
    it names none, and never more than ``max_timeout``. A command past its timeout has its
    whole process group killed and reports a ``timeout`` outcome.

    Output: ``max_output_length`` caps each command's stdout and stderr *together*, in
    characters, the truncation marker included, so an entry never exceeds the number the model
    asked for (the API describes the cap both as "per command" and as "combined stdout and
    stderr"; this reading satisfies both). Long output keeps its head and tail around a
    ``[... N bytes omitted ...]`` marker. The call's ``max_output_length`` is echoed in the
    output item. Bytes that are not UTF-8 become U+FFFD. Every command also draws from its
    response's tool output budget (``Agent(max_tool_output_per_response=)``): past it, output
    is cut with a note saying so, or the command is not run.

    Args:
        environment: The definition's ``environment``: ``None`` (left out) or
            ``{"type": "local"}`` (optionally with ``skills``). Hosted containers are not
            executed here; pass their definition as a plain dict instead of this tool.
        default_timeout: Seconds per command when the call names no ``timeout_ms``.
        max_timeout: Seconds no command may exceed.
        max_output_length: Characters kept per command when the call names no cap.
        max_output_limit: The largest cap honoured, whatever the call asks for.
        needs_approval: Ask the run's approval callback before each call.
        timeout: Seconds a whole call (all its commands) may take; ``None`` for no limit
            beyond the per-command timeouts.
    """

    call_type = "shell_call"
    #: Its calls run in the run's sandbox (a run without one fails before any request).
    needs_sandbox = True
    name: str | None = None
    namespace: str | None = None
    sequential = False

    def __init__(
        self,
        *,
        environment: Mapping[str, Any] | None = None,
        default_timeout: float = DEFAULT_TIMEOUT,
        max_timeout: float = MAX_TIMEOUT,
        max_output_length: int = DEFAULT_MAX_OUTPUT_LENGTH,
        max_output_limit: int = MAX_OUTPUT_LENGTH,
        needs_approval: bool = False,
        timeout: float | None = None,
    ) -> None:
        if environment is not None and environment.get("type") != "local":
            raise ConfigError(
                f"ShellTool runs commands in the local sandbox; environment {environment!r} is "
                "hosted: pass its definition as a dict (e.g. {'type': 'shell', 'environment': "
                "{...}}) to have the API run it"
            )
        self.environment = dict(environment) if environment is not None else None
        self.limits = CommandLimits(
            default_timeout=default_timeout,
            max_timeout=max_timeout,
            default_max_output_length=max_output_length,
            max_output_length=max_output_limit,
        )
        self.needs_approval = needs_approval
        self.timeout = timeout

    def __repr__(self) -> str:
        return "ShellTool()"

    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this tool (``ShellTool(**tool.options())``)."""
        return {
            "environment": self.environment,
            "default_timeout": self.limits.default_timeout,
            "max_timeout": self.limits.max_timeout,
            "max_output_length": self.limits.default_max_output_length,
            "max_output_limit": self.limits.max_output_length,
            "needs_approval": self.needs_approval,
            "timeout": self.timeout,
        }

    def definition(self) -> dict[str, Any]:
        """The ``{"type": "shell"}`` entry of the request's ``tools``."""
        out: dict[str, Any] = {"type": "shell"}
        if self.environment is not None:
            out["environment"] = dict(self.environment)
        return out

    async def execute(self, call: ShellCall, ctx: ToolContext) -> ShellCallOutput:
        """Run the call's commands in order; one output entry per command."""
        if not call.runs_locally:
            raise ToolError(
                f"shell_call {call.call_id} runs in a hosted environment "
                f"({call.environment!r}), not in this sandbox"
            )
        sandbox = sandbox_of(ctx, "shell")
        action = call.action
        timeout = self.limits.timeout(action.timeout_ms)
        cap = self.limits.cap(action.max_output_length)
        budget = ctx.output_budget
        entries = []
        for index, command in enumerate(action.commands):
            report = partial(ctx.report_output, index) if ctx.report_output else None
            out = await _run(
                sandbox, command, timeout=timeout, cap=cap, budget=budget, report=report
            )
            entries.append(_entry(out))
        if action.max_output_length is None:
            return ShellCallOutput(call_id=call.call_id, output=entries)
        return ShellCallOutput(
            call_id=call.call_id, output=entries, max_output_length=action.max_output_length
        )


async def _run(
    sandbox: Sandbox,
    command: str,
    *,
    timeout: float,
    cap: int,
    budget: OutputBudget | None,
    report: TextReporter | None,
) -> CommandOutput:
    if not command.strip():
        # What `bash -c ""` does; the sandbox refuses an empty command outright.
        return CommandOutput(stdout="", stderr="", exit_code=0, timed_out=False)
    return await run_within_budget(
        sandbox, command, cap=cap, budget=budget, timeout=timeout, report=report
    )


def _entry(out: CommandOutput) -> ShellCallOutputContent:
    outcome: ShellOutcome
    if out.timed_out or out.exit_code is None:
        outcome = ShellTimeoutOutcome()
    else:
        outcome = ShellExitOutcome(exit_code=out.exit_code)
    return ShellCallOutputContent(stdout=out.stdout, stderr=out.stderr, outcome=outcome)
