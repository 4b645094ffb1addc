"""The legacy ``local_shell`` tool: run one argv in the sandbox.

Part of ``executors`` (``dispatch → executors → sandboxes``): the dispatcher hands each
``local_shell_call`` to :meth:`LocalShellTool.execute`, which runs its ``exec`` action through
:meth:`Sandbox.exec <sandloop.sandboxes.base.Sandbox.exec>` and answers with a
``local_shell_call_output`` whose ``id`` is the call's ``call_id`` (spec §3.5: the output has
no ``call_id`` field) and whose ``output`` is a JSON string.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sandloop.errors import ToolError
from sandloop.executors._commands import (
    DEFAULT_MAX_OUTPUT_LENGTH,
    DEFAULT_TIMEOUT,
    MAX_OUTPUT_LENGTH,
    MAX_TIMEOUT,
    CommandLimits,
    run_within_budget,
    sandbox_of,
)
from sandloop.executors.base import ToolContext
from sandloop.items import LocalShellCall, LocalShellCallOutput

__all__ = ("LocalShellTool",)


class LocalShellTool:
    """The ``local_shell`` tool: the model runs one command (an argv) in the run's sandbox.

    The argv runs directly, not through a shell, with the action's ``env`` added to the
    sandbox's environment, in ``working_directory`` (relative to the workspace, or absolute
    inside the sandbox; default the workspace), under ``timeout_ms`` (default
    ``default_timeout`` seconds, at most ``max_timeout``; past it the whole process group is
    killed).

    The output item's ``output`` is the JSON text of
    ``{"stdout": str, "stderr": str, "exit_code": int | null, "timed_out": bool}``;
    ``exit_code`` is ``null`` when the command timed out. stdout and stderr together keep at
    most ``max_output_length`` characters (head and tail, with a marker where the middle was
    cut); bytes that are not UTF-8 become U+FFFD.

    A call that names a ``user`` is refused unless ``allow_user=True``: switching users would
    let the model step around the sandbox's non-root default. With ``allow_user=True`` the
    user is passed to ``Sandbox.exec``; a sandbox that cannot switch users raises
    ``SandboxError`` (today both ``LocalSandbox`` and ``DockerSandbox`` do), which stops the run.

    Args:
        default_timeout: Seconds per command when the call names no ``timeout_ms``.
        max_timeout: Seconds no command may exceed.
        max_output_length: Characters of stdout and stderr together kept per command.
        allow_user: Honour the action's ``user`` field.
        needs_approval: Ask the run's approval callback before each call.
        timeout: Seconds a call may take before the dispatcher cancels it; ``None`` for no
            limit beyond the command's own timeout.
    """

    call_type = "local_shell_call"
    #: Its calls run in the run's sandbox (a run without one fails before any request).
    needs_sandbox = True
    name: str | None = None
    namespace: str | None = None
    sequential = False

    def __init__(
        self,
        *,
        default_timeout: float = DEFAULT_TIMEOUT,
        max_timeout: float = MAX_TIMEOUT,
        max_output_length: int = DEFAULT_MAX_OUTPUT_LENGTH,
        allow_user: bool = False,
        needs_approval: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.limits = CommandLimits(
            default_timeout=default_timeout,
            max_timeout=max_timeout,
            default_max_output_length=max_output_length,
            max_output_length=max(max_output_length, MAX_OUTPUT_LENGTH),
        )
        self.allow_user = allow_user
        self.needs_approval = needs_approval
        self.timeout = timeout

    def __repr__(self) -> str:
        return "LocalShellTool()"

    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this tool (``LocalShellTool(**tool.options())``)."""
        return {
            "default_timeout": self.limits.default_timeout,
            "max_timeout": self.limits.max_timeout,
            "max_output_length": self.limits.default_max_output_length,
            "allow_user": self.allow_user,
            "needs_approval": self.needs_approval,
            "timeout": self.timeout,
        }

    def definition(self) -> dict[str, Any]:
        """The ``{"type": "local_shell"}`` entry of the request's ``tools``."""
        return {"type": "local_shell"}

    async def execute(self, call: LocalShellCall, ctx: ToolContext) -> LocalShellCallOutput:
        """Run the call's argv and report stdout, stderr, exit code and timeout as JSON.

        Raises:
            ToolError: the argv is empty, or the call names a user and ``allow_user`` is off.
            SandboxFileError: the working directory does not exist.
        """
        sandbox = sandbox_of(ctx, "local_shell")
        action = call.action
        if not action.command:
            raise ToolError("local_shell_call has an empty command: give an argv to run")
        if action.user is not None and not self.allow_user:
            raise ToolError(
                f"running as user {action.user!r} is not allowed here; leave 'user' out to run "
                "as the sandbox's user"
            )
        out = await run_within_budget(
            sandbox,
            action.command,
            cap=self.limits.cap(None),
            budget=ctx.output_budget,
            cwd=action.working_directory or None,
            env=action.env or None,
            timeout=self.limits.timeout(action.timeout_ms),
            user=action.user,
            report=partial(ctx.report_output, 0) if ctx.report_output else None,
        )
        return LocalShellCallOutput.of(
            call.call_id,
            stdout=out.stdout,
            stderr=out.stderr,
            exit_code=out.exit_code,
            timed_out=out.timed_out,
        )
