"""Client-executed tool calls and their outputs (spec §3.1–§3.6).

The loop reads these: the dispatcher routes each call item to its executor by ``type`` (and
``namespace``/``name``), and each executor answers with the matching output item, paired by
``call_id`` (``local_shell_call_output`` pairs by ``id``). ``CALL_OUTPUT_TYPES`` maps one to the
other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator

from sandloop.items._base import WireModel
from sandloop.items.computer import ComputerAction, ComputerScreenshot, SafetyCheck
from sandloop.items.content import ContentPart

__all__ = (
    "CALL_OUTPUT_TYPES",
    "ApplyPatchCall",
    "ApplyPatchCallOutput",
    "ApplyPatchOperation",
    "ComputerCall",
    "ComputerCallOutput",
    "CreateFileOperation",
    "CustomToolCall",
    "CustomToolCallOutput",
    "DeleteFileOperation",
    "FunctionCall",
    "FunctionCallOutput",
    "LocalShellCall",
    "LocalShellCallOutput",
    "LocalShellExecAction",
    "ShellAction",
    "ShellCall",
    "ShellCallOutput",
    "ShellCallOutputContent",
    "ShellExitOutcome",
    "ShellOutcome",
    "ShellTimeoutOutcome",
    "UpdateFileOperation",
)

CALL_OUTPUT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "function_call": "function_call_output",
        "custom_tool_call": "custom_tool_call_output",
        "shell_call": "shell_call_output",
        "apply_patch_call": "apply_patch_call_output",
        "local_shell_call": "local_shell_call_output",
        "computer_call": "computer_call_output",
    }
)
"""Each client-executable call type mapped to the type of the output item that answers it."""


# --- function and custom tools ------------------------------------------------------------


class FunctionCall(WireModel):
    """The model calls a function tool; ``arguments`` is JSON text to parse."""

    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    namespace: str | None = None
    status: str | None = None


class FunctionCallOutput(WireModel):
    """The result of a function call: text, or content parts (images, files)."""

    type: Literal["function_call_output"] = "function_call_output"
    call_id: str
    output: str | Sequence[ContentPart]
    id: str | None = None
    status: str | None = None


class CustomToolCall(WireModel):
    """The model calls a custom tool; ``input`` is raw text (not JSON)."""

    type: Literal["custom_tool_call"] = "custom_tool_call"
    call_id: str
    name: str
    input: str
    id: str | None = None
    namespace: str | None = None


class CustomToolCallOutput(WireModel):
    """The result of a custom tool call."""

    type: Literal["custom_tool_call_output"] = "custom_tool_call_output"
    call_id: str
    output: str | Sequence[ContentPart]
    id: str | None = None
    status: str | None = None


# --- shell ---------------------------------------------------------------------------------


class ShellAction(WireModel):
    """What a shell call asks for: commands run in order, with optional limits."""

    commands: list[str]
    timeout_ms: int | None = None
    max_output_length: int | None = None


class ShellCall(WireModel):
    """The model asks to run shell commands (the ``shell`` tool)."""

    type: Literal["shell_call"] = "shell_call"
    call_id: str
    action: ShellAction
    id: str | None = None
    status: str | None = None
    environment: dict[str, Any] | None = None

    @property
    def runs_locally(self) -> bool:
        """Whether the client runs this call: its environment is ``local`` or left out.

        A call in a hosted container (``container_reference``, ...) runs on the API's side and
        arrives with its own ``shell_call_output``; it must not be run or answered again.
        """
        env = self.environment
        return env is None or env.get("type") in (None, "local")


class ShellExitOutcome(WireModel):
    """The command exited with ``exit_code``."""

    type: Literal["exit"] = "exit"
    exit_code: int


class ShellTimeoutOutcome(WireModel):
    """The command was killed when its timeout passed."""

    type: Literal["timeout"] = "timeout"


ShellOutcome = Annotated[ShellExitOutcome | ShellTimeoutOutcome, Discriminator("type")]
"""How a shell command ended."""


class ShellCallOutputContent(WireModel):
    """The captured output of one command."""

    stdout: str
    stderr: str
    outcome: ShellOutcome


class ShellCallOutput(WireModel):
    """The result of a shell call: one entry per command, ``max_output_length`` echoed."""

    type: Literal["shell_call_output"] = "shell_call_output"
    call_id: str
    output: list[ShellCallOutputContent]
    max_output_length: int | None = None
    id: str | None = None
    status: str | None = None


# --- apply_patch ---------------------------------------------------------------------------


class CreateFileOperation(WireModel):
    """Create ``path``; ``diff`` holds the whole content as a V4A diff."""

    type: Literal["create_file"] = "create_file"
    path: str
    diff: str


class UpdateFileOperation(WireModel):
    """Patch ``path`` with a V4A ``diff``."""

    type: Literal["update_file"] = "update_file"
    path: str
    diff: str


class DeleteFileOperation(WireModel):
    """Delete ``path``."""

    type: Literal["delete_file"] = "delete_file"
    path: str


ApplyPatchOperation = Annotated[
    CreateFileOperation | UpdateFileOperation | DeleteFileOperation, Discriminator("type")
]
"""One file operation of an ``apply_patch_call``."""


class ApplyPatchCall(WireModel):
    """The model asks to create, update or delete one file."""

    type: Literal["apply_patch_call"] = "apply_patch_call"
    call_id: str
    operation: ApplyPatchOperation
    id: str | None = None
    status: str | None = None


class ApplyPatchCallOutput(WireModel):
    """The result of an apply_patch call; ``status`` is required."""

    type: Literal["apply_patch_call_output"] = "apply_patch_call_output"
    call_id: str
    status: Literal["completed", "failed"]
    output: str | None = None
    id: str | None = None

    _always_sent: ClassVar[tuple[str, ...]] = ("type", "status")


# --- local_shell ---------------------------------------------------------------------------


class LocalShellExecAction(WireModel):
    """One argv to execute, with its environment and limits."""

    type: Literal["exec"] = "exec"
    command: list[str]
    env: dict[str, str] | None = None
    timeout_ms: int | None = None
    user: str | None = None
    working_directory: str | None = None


class LocalShellCall(WireModel):
    """The model asks to run one command (the legacy ``local_shell`` tool)."""

    type: Literal["local_shell_call"] = "local_shell_call"
    call_id: str
    action: LocalShellExecAction
    id: str | None = None
    status: str | None = None


class LocalShellCallOutput(WireModel):
    """The result of a local shell call. It has no ``call_id``: ``id`` carries the call's id."""

    type: Literal["local_shell_call_output"] = "local_shell_call_output"
    id: str
    output: str
    status: str | None = None


# --- computer ------------------------------------------------------------------------------


class ComputerCall(WireModel):
    """The model asks for one ``action`` or a batch of ``actions`` on the screen."""

    type: Literal["computer_call"] = "computer_call"
    call_id: str
    id: str | None = None
    action: ComputerAction | None = None
    actions: list[ComputerAction] | None = None
    pending_safety_checks: list[SafetyCheck] | None = None
    status: str | None = None


class ComputerCallOutput(WireModel):
    """The result of a computer call: a screenshot, plus the safety checks acknowledged."""

    type: Literal["computer_call_output"] = "computer_call_output"
    call_id: str
    output: ComputerScreenshot
    acknowledged_safety_checks: list[SafetyCheck] | None = None
    id: str | None = None
    status: str | None = None
