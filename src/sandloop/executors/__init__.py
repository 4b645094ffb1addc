"""sandloop.executors: one module per tool family, each turning call items into output items.

``dispatch`` routes a call here by its item type and tool name; the tools run their work in the
run's sandbox (``ToolContext.sandbox``).
"""

from sandloop.executors._budget import DEFAULT_MAX_TOOL_OUTPUT, OutputBudget
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.base import ApprovalRequest, Tool, ToolContext, ToolServer
from sandloop.executors.computer import Computer, ComputerTool, DesktopComputer
from sandloop.executors.custom import CustomTool
from sandloop.executors.function import FunctionTool, ToolImage, ToolOutput, tool
from sandloop.executors.local_shell import LocalShellTool
from sandloop.executors.mcp import MCPServer
from sandloop.executors.shell import ShellTool

__all__ = (
    "DEFAULT_MAX_TOOL_OUTPUT",
    "ApplyPatchTool",
    "ApprovalRequest",
    "Computer",
    "ComputerTool",
    "CustomTool",
    "DesktopComputer",
    "FunctionTool",
    "LocalShellTool",
    "MCPServer",
    "OutputBudget",
    "ShellTool",
    "Tool",
    "ToolContext",
    "ToolImage",
    "ToolOutput",
    "ToolServer",
    "tool",
)
