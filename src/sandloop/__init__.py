"""sandloop: an agent-loop runtime for the OpenAI Responses API with hardened Docker sandboxes.

The curated public API. Importing it has no side effects: no network, no Docker, no threads.
It is also cheap: the errors are defined at once, every other name is imported from its
subpackage on first use (a module ``__getattr__``, PEP 562), so ``import sandloop`` and
``sandloop --help`` do not load httpx, pydantic, Docker's SDK or Rich until something needs
them. Type checkers see ordinary imports.

    import sandloop

    agent = sandloop.Agent(model="gpt-5.1", tools=[sandloop.ShellTool(), sandloop.ApplyPatchTool()])
    async with sandloop.DockerSandbox(workspace="./repo") as sandbox:
        result = await sandloop.run(agent, "Make the tests pass", sandbox=sandbox)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sandloop import errors
from sandloop.errors import (
    ApiConnectionError,
    ApiError,
    ApiStatusError,
    ApiTimeoutError,
    ApprovalDeniedError,
    ConfigError,
    CostBudgetExceeded,
    InvalidResponseError,
    MaxTurnsExceeded,
    MCPServerError,
    MCPStartError,
    ModelBehaviorError,
    OutputValidationError,
    PatchConflictError,
    PatchError,
    PatchParseError,
    PatchTimeoutError,
    RateLimitError,
    ReplayDivergenceError,
    ResponseDeadlineError,
    ResponseFailedError,
    ResponseIncompleteError,
    ResponseStalledError,
    ResponseTooDeepError,
    ResponseTooLargeError,
    RunError,
    RunTimeoutError,
    SandboxDiedError,
    SandboxEngineError,
    SandboxError,
    SandboxFileError,
    SandboxStartError,
    SandboxTimeoutError,
    SandboxUnavailableError,
    SandloopError,
    ServerError,
    TokenBudgetExceeded,
    ToolArgumentsError,
    ToolError,
    ToolTimeoutError,
    WorkspaceCleanupError,
    WorkspacePathError,
    WorkspaceTooLargeError,
)

if TYPE_CHECKING:
    from sandloop.client import (
        ClientLimits,
        ClientSettings,
        ResponsesClient,
        ResponseStream,
        RetryPolicy,
    )
    from sandloop.executors import (
        ApplyPatchTool,
        ApprovalRequest,
        Computer,
        ComputerTool,
        CustomTool,
        DesktopComputer,
        FunctionTool,
        LocalShellTool,
        MCPServer,
        ShellTool,
        Tool,
        ToolContext,
        ToolImage,
        tool,
    )
    from sandloop.items import Item, Response, Usage
    from sandloop.loop import (
        Agent,
        AgentLoop,
        Compacted,
        PendingApproval,
        ResponseCreated,
        ResponseRetrying,
        RunEnded,
        RunEvent,
        RunResult,
        RunSpec,
        RunStarted,
        RunState,
        RunStatus,
        TextDelta,
        ToolCallFinished,
        ToolCallStarted,
        ToolOutputDelta,
        TurnEnded,
        TurnStarted,
        run,
        run_sync,
        stream,
    )

    # From its module: ``sandloop.loop.resume`` is also the module's name, which mypy may bind
    # instead of the function when it reads the package in an import cycle.
    from sandloop.loop.resume import resume, resume_sync
    from sandloop.sandboxes import (
        DockerSandbox,
        ExecResult,
        FileEntry,
        LocalSandbox,
        Sandbox,
        SandboxPool,
        WorkspaceChanges,
    )

#: The names imported on first use, by the subpackage that defines them.
_LAZY: dict[str, tuple[str, ...]] = {
    "sandloop.client": (
        "ClientLimits",
        "ClientSettings",
        "ResponsesClient",
        "ResponseStream",
        "RetryPolicy",
    ),
    "sandloop.executors": (
        "ApplyPatchTool",
        "ApprovalRequest",
        "Computer",
        "ComputerTool",
        "CustomTool",
        "DesktopComputer",
        "FunctionTool",
        "LocalShellTool",
        "MCPServer",
        "ShellTool",
        "Tool",
        "ToolContext",
        "ToolImage",
        "tool",
    ),
    "sandloop.items": (
        "Item",
        "Response",
        "Usage",
    ),
    "sandloop.loop": (
        "Agent",
        "AgentLoop",
        "Compacted",
        "PendingApproval",
        "ResponseCreated",
        "ResponseRetrying",
        "RunEnded",
        "RunEvent",
        "RunResult",
        "RunSpec",
        "RunStarted",
        "RunState",
        "RunStatus",
        "TextDelta",
        "ToolCallFinished",
        "ToolCallStarted",
        "ToolOutputDelta",
        "TurnEnded",
        "TurnStarted",
        "run",
        "run_sync",
        "stream",
    ),
    "sandloop.loop.resume": ("resume", "resume_sync"),
    "sandloop.sandboxes": (
        "DockerSandbox",
        "ExecResult",
        "FileEntry",
        "LocalSandbox",
        "Sandbox",
        "SandboxPool",
        "WorkspaceChanges",
    ),
}

_HOME = {name: module for module, names in _LAZY.items() for name in names}

__version__ = "0.1.0"

__all__ = (
    "Agent",
    "AgentLoop",
    "ApiConnectionError",
    "ApiError",
    "ApiStatusError",
    "ApiTimeoutError",
    "ApplyPatchTool",
    "ApprovalDeniedError",
    "ApprovalRequest",
    "ClientLimits",
    "ClientSettings",
    "Compacted",
    "Computer",
    "ComputerTool",
    "ConfigError",
    "CostBudgetExceeded",
    "CustomTool",
    "DesktopComputer",
    "DockerSandbox",
    "ExecResult",
    "FileEntry",
    "FunctionTool",
    "InvalidResponseError",
    "Item",
    "LocalSandbox",
    "LocalShellTool",
    "MCPServer",
    "MCPServerError",
    "MCPStartError",
    "MaxTurnsExceeded",
    "ModelBehaviorError",
    "OutputValidationError",
    "PatchConflictError",
    "PatchError",
    "PatchParseError",
    "PatchTimeoutError",
    "PendingApproval",
    "RateLimitError",
    "ReplayDivergenceError",
    "Response",
    "ResponseCreated",
    "ResponseDeadlineError",
    "ResponseFailedError",
    "ResponseIncompleteError",
    "ResponseRetrying",
    "ResponseStalledError",
    "ResponseStream",
    "ResponseTooDeepError",
    "ResponseTooLargeError",
    "ResponsesClient",
    "RetryPolicy",
    "RunEnded",
    "RunError",
    "RunEvent",
    "RunResult",
    "RunSpec",
    "RunStarted",
    "RunState",
    "RunStatus",
    "RunTimeoutError",
    "Sandbox",
    "SandboxDiedError",
    "SandboxEngineError",
    "SandboxError",
    "SandboxFileError",
    "SandboxPool",
    "SandboxStartError",
    "SandboxTimeoutError",
    "SandboxUnavailableError",
    "SandloopError",
    "ServerError",
    "ShellTool",
    "TextDelta",
    "TokenBudgetExceeded",
    "Tool",
    "ToolArgumentsError",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolContext",
    "ToolError",
    "ToolImage",
    "ToolOutputDelta",
    "ToolTimeoutError",
    "TurnEnded",
    "TurnStarted",
    "Usage",
    "WorkspaceChanges",
    "WorkspaceCleanupError",
    "WorkspacePathError",
    "WorkspaceTooLargeError",
    "__version__",
    "errors",
    "resume",
    "resume_sync",
    "run",
    "run_sync",
    "stream",
    "tool",
)


def __getattr__(name: str) -> Any:
    """Import a public name from its subpackage on first use, then keep it here.

    A subpackage is found too (``import sandloop`` then ``sandloop.loop.events``), as it was
    when this module imported them all.
    """
    module = _HOME.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # a dependency of the subpackage is missing: say so
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
