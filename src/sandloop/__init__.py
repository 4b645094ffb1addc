"""sandloop: an agent-loop runtime for the OpenAI Responses API with hardened Docker sandboxes.

The curated public API. Importing it has no side effects: no network, no Docker, no threads.
"""

from sandloop import errors
from sandloop.errors import (
    ApiError,
    ConfigError,
    MaxTurnsExceeded,
    PatchError,
    RunError,
    SandboxError,
    SandloopError,
    ToolError,
)
from sandloop.executors.base import Tool, ToolContext
from sandloop.sandboxes.base import ExecResult, Sandbox

__version__ = "0.1.0"

__all__ = (
    "ApiError",
    "ConfigError",
    "ExecResult",
    "MaxTurnsExceeded",
    "PatchError",
    "RunError",
    "Sandbox",
    "SandboxError",
    "SandloopError",
    "Tool",
    "ToolContext",
    "ToolError",
    "__version__",
    "errors",
)
