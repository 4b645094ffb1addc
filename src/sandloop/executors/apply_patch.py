"""The ``apply_patch`` tool: create, update, delete and move files in the sandbox's workspace.

Part of ``executors`` (``dispatch → executors → sandboxes``). The hosted tool sends one
``apply_patch_call`` per file operation (a V4A diff); as a custom tool named ``apply_patch``
(for models without the hosted tool) the model sends a whole ``*** Begin Patch`` envelope,
constrained by a Lark grammar. Either way: check the paths, read the files, compute every new
text with :mod:`sandloop.patching` (pure), then write, all or nothing. Parsing and matching run
in a worker thread under a :class:`~sandloop.patching.Budget`, so a hostile diff never holds the
event loop and a match past its budget ends as a failed output that changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread

from sandloop.errors import ConfigError, PatchError, SandboxFileError, WorkspacePathError
from sandloop.executors._commands import sandbox_of
from sandloop.executors._workspace import FileState, read_files, write_plan
from sandloop.executors.base import ToolContext
from sandloop.items import (
    ApplyPatchCall,
    ApplyPatchCallOutput,
    CustomToolCall,
    CustomToolCallOutput,
)
from sandloop.patching import (
    APPLY_PATCH_GRAMMAR,
    Budget,
    FileOp,
    PatchPlan,
    parse_envelope,
    plan_envelope,
    workspace_path,
)
from sandloop.sandboxes.base import Sandbox

__all__ = ("CUSTOM_DESCRIPTION", "DEFAULT_MATCH_TIMEOUT", "ApplyPatchTool")

#: Seconds parsing and matching one call's patch may take (the tool's ``timeout`` when lower).
DEFAULT_MATCH_TIMEOUT = 10.0

#: What the model reads about the custom ``apply_patch`` tool.
CUSTOM_DESCRIPTION = """\
Edit files in the workspace with a patch. Paths are relative to the workspace root.
Send one patch: `*** Begin Patch`, one or more file sections, `*** End Patch`.
- `*** Add File: PATH` then every line of the new file prefixed with `+`.
- `*** Delete File: PATH`.
- `*** Update File: PATH`, optionally `*** Move to: NEW_PATH`, then hunks: `@@ LINE` names a
  line (e.g. a def or class) the change comes after (stack several `@@` lines to narrow it; a
  bare `@@` starts a hunk without one); then the lines, each prefixed with ' ' (unchanged
  context), '-' (removed) or '+' (added), with about 3 context lines around each change.
  End with `*** End of File` when the hunk is at the end of the file.
The patch is applied entirely or not at all."""


class ApplyPatchTool:
    """Let the model edit files in the run's sandbox with patches.

    By default this is the hosted ``{"type": "apply_patch"}`` tool: each ``apply_patch_call``
    creates, updates (V4A or unified diff) or deletes one file. With ``as_custom=True`` it is a
    custom tool named ``apply_patch`` whose input is a ``*** Begin Patch`` envelope, with a
    grammar that keeps the model's input well formed.

    A failing patch changes nothing and answers with a ``failed`` output whose message names
    the file, the hunk, the first line that did not match and the lines the file has there.
    Paths outside the workspace (absolute, ``..``, or through a symlink) are refused.

    Args:
        as_custom: Offer the tool as a grammar-constrained custom tool instead of the hosted one.
        description: For the custom tool: what the model reads (default: the envelope format).
        sequential: Run calls alone, so two patches never interleave on one file.
        needs_approval: Ask the run's approval callback before each call.
        timeout: Seconds a call may take.
        match_timeout: Seconds parsing and matching a call's patch may take, in a worker
            thread (never on the event loop); ``timeout`` lowers it. Past it the call fails
            with "patch matching took longer than N s" and nothing is changed.
    """

    namespace: str | None = None

    def __init__(
        self,
        *,
        as_custom: bool = False,
        description: str = CUSTOM_DESCRIPTION,
        sequential: bool = True,
        needs_approval: bool = False,
        timeout: float | None = None,
        match_timeout: float = DEFAULT_MATCH_TIMEOUT,
    ) -> None:
        if not match_timeout > 0:
            raise ConfigError(
                f"match_timeout must be a positive number of seconds, not {match_timeout}"
            )
        self.match_timeout = match_timeout
        self.as_custom = as_custom
        self.call_type = "custom_tool_call" if as_custom else "apply_patch_call"
        #: Its calls edit the run's sandbox (a run without one fails before any request).
        self.needs_sandbox = True
        self.name: str | None = "apply_patch" if as_custom else None
        self.description = description
        self.sequential = sequential
        self.needs_approval = needs_approval
        self.timeout = timeout

    def __repr__(self) -> str:
        return "ApplyPatchTool(as_custom=True)" if self.as_custom else "ApplyPatchTool()"

    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this tool (``ApplyPatchTool(**tool.options())``)."""
        return {
            "as_custom": self.as_custom,
            "description": self.description,
            "sequential": self.sequential,
            "needs_approval": self.needs_approval,
            "timeout": self.timeout,
            "match_timeout": self.match_timeout,
        }

    def definition(self) -> dict[str, Any]:
        """The request's ``tools`` entry: hosted ``apply_patch``, or the custom tool."""
        if not self.as_custom:
            return {"type": "apply_patch"}
        return {
            "type": "custom",
            "name": "apply_patch",
            "description": self.description,
            "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR},
        }

    async def execute(
        self, call: ApplyPatchCall | CustomToolCall, ctx: ToolContext
    ) -> ApplyPatchCallOutput | CustomToolCallOutput:
        """Apply the call's patch in ``ctx.sandbox``; failures become the output's message."""
        sandbox = sandbox_of(ctx, "apply_patch", work="edits files")
        seconds = (
            self.match_timeout if self.timeout is None else min(self.match_timeout, self.timeout)
        )
        budget = Budget(seconds)
        if isinstance(call, CustomToolCall):
            ok, text = await _run(sandbox, lambda: parse_envelope(call.input), budget)
            # A custom tool's output has no status: the words must say it failed.
            output = text if ok else f"apply_patch failed: {text}"
            return CustomToolCallOutput(call_id=call.call_id, output=output)
        ok, text = await _run(sandbox, lambda: [_hosted_op(call)], budget)
        return ApplyPatchCallOutput(
            call_id=call.call_id, status="completed" if ok else "failed", output=text
        )


def _hosted_op(call: ApplyPatchCall) -> FileOp:
    op = call.operation
    if op.type == "delete_file":
        return FileOp("delete", op.path)
    return FileOp("create" if op.type == "create_file" else "update", op.path, op.diff)


async def _run(
    sandbox: Sandbox, parse: Callable[[], list[FileOp]], budget: Budget
) -> tuple[bool, str]:
    """Parse, check, read, plan and write; ``(True, summary)`` or ``(False, message)``."""
    try:
        ops = await _off_loop(lambda: [_confined(op, sandbox.workdir) for op in parse()])
        return True, await _apply_ops(sandbox, ops, budget)
    except (PatchError, SandboxFileError) as exc:
        return False, _failure(exc)


def _confined(op: FileOp, root: str) -> FileOp:
    move_to = None if op.move_to is None else workspace_path(op.move_to, root=root)
    return FileOp(op.kind, workspace_path(op.path, root=root), op.diff, move_to, op.line_offset)


async def _off_loop(work: Callable[[], Any]) -> Any:
    """Run pure patch work in a worker thread.

    A cancelled call (the tool's timeout) does not wait for the thread: the thread's
    :class:`Budget` ends it soon after, and it writes nothing.
    """
    return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)


async def _apply_ops(sandbox: Sandbox, ops: list[FileOp], budget: Budget) -> str:
    """Apply checked operations all or nothing; return the summary (``A``/``M``/``D``/``R``).

    Raises:
        PatchError: A diff is malformed or does not match, or a write failed (rolled back).
        SandboxFileError: A file could not be read, or a symlink leads out of the workspace.
    """
    paths = [p for op in ops for p in (op.path, op.move_to) if p is not None]
    states = await read_files(sandbox, paths)
    for op in ops:
        if op.kind == "update" and states[op.path].binary:
            raise PatchError(f"{op.path} is a binary file; apply_patch edits text.", path=op.path)
    texts = {path: state.text for path, state in states.items()}
    plan: PatchPlan = await _off_loop(lambda: plan_envelope(ops, texts, budget=budget))
    await write_plan(sandbox, plan, states, _modes(ops, states))
    return "\n".join(plan.summary)


def _modes(ops: list[FileOp], states: dict[str, FileState]) -> dict[str, int]:
    """A renamed file keeps its permission bits (an executable script stays executable)."""
    modes: dict[str, int] = {}
    for op in ops:
        source = states[op.path].mode
        if op.move_to is not None and source is not None:
            modes[op.move_to] = source
    return modes


def _failure(exc: PatchError | SandboxFileError) -> str:
    """The words the model reads; a ``PatchError`` says itself whether anything changed.

    A ``SandboxFileError`` here came before anything was written (a failed write becomes a
    ``PatchError`` in :func:`write_plan`), so nothing changed.
    """
    if isinstance(exc, PatchError):
        return str(exc)
    text = str(exc).rstrip().rstrip(".")
    if isinstance(exc, WorkspacePathError):
        text = f"refused: {text}; paths must stay inside the workspace"
    return f"{text}. {PatchError.NOTHING_CHANGED}"
