"""Client-executed tool calls and their outputs (spec §3.1–§3.6).

The loop reads these: the dispatcher routes each call item to its executor by ``type`` (and
``namespace``/``name``), and each executor answers with the matching output item, paired by
``call_id`` (``local_shell_call_output`` pairs by ``id``). ``CALL_OUTPUT_TYPES`` maps one to the
other.

This module is the one home of what each call family means: every call class says how it is
routed (:attr:`~ClientCallBase.tool_key`), named (``label``) and described
(``arguments_text``), whether the client runs it (``runs_locally``), and what output answers it
when it did not run (``failure_output``). :data:`ClientCall` is the union of the call classes; a
new call family is one more class here and one more member of that union.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

from pydantic import Discriminator

from sandloop.items._base import WireModel
from sandloop.items.computer import ComputerAction, ComputerScreenshot, SafetyCheck
from sandloop.items.content import ContentPart

__all__ = (
    "BLANK_PNG",
    "CALL_OUTPUT_TYPES",
    "CLIENT_CALL_CLASSES",
    "ApplyPatchCall",
    "ApplyPatchCallOutput",
    "ApplyPatchOperation",
    "ClientCall",
    "ClientCallBase",
    "ClientCallOutput",
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

#: A 1×1 transparent PNG: the screenshot of a computer call that could not run.
BLANK_PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


class ClientCallBase(WireModel):
    """Base of the call items the client executes: what the loop asks of every call family.

    Subclasses set ``output_type`` and override what differs from the defaults: a family is
    routed by its call type, runs locally, and its output holds text.
    """

    if TYPE_CHECKING:
        # Declared by every subclass, as its own fields in its own order (the order they are
        # serialised in): here only for the type checker.
        type: str
        call_id: str

    #: The wire ``type`` of the output item that answers a call of this class.
    output_type: ClassVar[str]
    #: Whether the failure output can carry words (a computer call's is only a screenshot, so
    #: its failure's words go in a note after it).
    output_holds_text: ClassVar[bool] = True
    #: Whether calls are routed by tool name (several tools share the call type).
    routed_by_name: ClassVar[bool] = False

    @property
    def tool_key(self) -> tuple[str | None, str] | str:
        """The registry key the call is routed by: its call type, or ``(namespace, name)``."""
        return self.type

    @property
    def label(self) -> str:
        """A short name for the call: the tool name for named tools, else the family."""
        return self.type.removesuffix("_call")

    @property
    def runs_locally(self) -> bool:
        """Whether the client runs (and answers) this call."""
        return True

    @classmethod
    def runs_locally_as_received(cls, raw: Mapping[str, Any]) -> bool:
        """:attr:`runs_locally` of a call of this type read from its wire dict ``raw``.

        For a call that failed validation: it has only its received fields.
        """
        return True

    def arguments_text(self, *, exact: bool = False) -> str:
        """What the call asks for, as text (for approval prompts, events and the display).

        Args:
            exact: Quote what runs exactly (an argv), so that what a person approves reads as
                what will run; otherwise a readable form.
        """
        raise NotImplementedError

    def failure_output(self, message: str, *, timed_out: bool = False) -> ClientCallOutput:
        """The output item telling the model this call did not run (or failed) and why."""
        return type(self).failed_output(self.call_id, message, timed_out=timed_out)

    @classmethod
    def failed_output(
        cls,
        call_id: str,
        message: str,
        *,
        timed_out: bool = False,
        max_output_length: int | None = None,
    ) -> ClientCallOutput:
        """The failure output answering ``call_id``, built from plain values.

        Also answers a call of this type that failed validation (``InvalidCall``), which has no
        typed fields to read.

        Args:
            call_id: The call answered.
            message: Plain words the model can act on.
            timed_out: The call ran past its timeout.
            max_output_length: The output cap the call asked for, echoed by the output types
                that carry one.
        """
        raise NotImplementedError


class _NamedCall(ClientCallBase):
    """A call routed by its tool's name (and namespace): function and custom tools."""

    if TYPE_CHECKING:
        name: str
        namespace: str | None

    routed_by_name: ClassVar[bool] = True

    @property
    def tool_key(self) -> tuple[str | None, str]:
        """``(namespace, name)``: named tools share one call type."""
        return (self.namespace, self.name)

    @property
    def label(self) -> str:
        """The tool's name, ``namespace.name`` in a namespace."""
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


# --- function and custom tools ------------------------------------------------------------


class FunctionCall(_NamedCall):
    """The model calls a function tool; ``arguments`` is JSON text to parse."""

    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    namespace: str | None = None
    status: str | None = None

    output_type: ClassVar[str] = "function_call_output"

    def arguments_text(self, *, exact: bool = False) -> str:
        """The JSON arguments."""
        return self.arguments

    @classmethod
    def failed_output(
        cls,
        call_id: str,
        message: str,
        *,
        timed_out: bool = False,
        max_output_length: int | None = None,
    ) -> FunctionCallOutput:
        """A ``function_call_output`` holding ``message``."""
        return FunctionCallOutput(call_id=call_id, output=message)


class FunctionCallOutput(WireModel):
    """The result of a function call: text, or content parts (images, files)."""

    type: Literal["function_call_output"] = "function_call_output"
    call_id: str
    output: str | Sequence[ContentPart]
    id: str | None = None
    status: str | None = None


class CustomToolCall(_NamedCall):
    """The model calls a custom tool; ``input`` is raw text (not JSON)."""

    type: Literal["custom_tool_call"] = "custom_tool_call"
    call_id: str
    name: str
    input: str
    id: str | None = None
    namespace: str | None = None

    output_type: ClassVar[str] = "custom_tool_call_output"

    def arguments_text(self, *, exact: bool = False) -> str:
        """The raw input."""
        return self.input

    @classmethod
    def failed_output(
        cls,
        call_id: str,
        message: str,
        *,
        timed_out: bool = False,
        max_output_length: int | None = None,
    ) -> CustomToolCallOutput:
        """A ``custom_tool_call_output`` holding ``message``."""
        return CustomToolCallOutput(call_id=call_id, output=message)


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


class ShellCall(ClientCallBase):
    """The model asks to run shell commands (the ``shell`` tool)."""

    type: Literal["shell_call"] = "shell_call"
    call_id: str
    action: ShellAction
    id: str | None = None
    status: str | None = None
    environment: dict[str, Any] | None = None

    output_type: ClassVar[str] = "shell_call_output"

    @property
    def runs_locally(self) -> bool:
        """Whether the client runs this call: its environment is ``local`` or left out.

        A call in a hosted container (``container_reference``, ...) runs on the API's side and
        arrives with its own ``shell_call_output``; it must not be run or answered again.
        """
        return _local_environment(self.environment)

    @classmethod
    def runs_locally_as_received(cls, raw: Mapping[str, Any]) -> bool:
        """Whether the received call's ``environment`` is local or left out."""
        return _local_environment(raw.get("environment"))

    def arguments_text(self, *, exact: bool = False) -> str:
        """The commands, one a line."""
        return "\n".join(self.action.commands)

    def failure_output(self, message: str, *, timed_out: bool = False) -> ShellCallOutput:
        """One entry carrying ``message`` as stderr; the call's ``max_output_length`` echoed."""
        cap = self.action.max_output_length
        return self.failed_output(self.call_id, message, timed_out=timed_out, max_output_length=cap)

    @classmethod
    def failed_output(
        cls,
        call_id: str,
        message: str,
        *,
        timed_out: bool = False,
        max_output_length: int | None = None,
    ) -> ShellCallOutput:
        """One entry: ``message`` as stderr, a timeout outcome or exit code 1."""
        outcome = ShellTimeoutOutcome() if timed_out else ShellExitOutcome(exit_code=1)
        chunk = ShellCallOutputContent(stdout="", stderr=message, outcome=outcome)
        return ShellCallOutput(call_id=call_id, output=[chunk], max_output_length=max_output_length)


def _local_environment(environment: object) -> bool:
    """Whether a shell call's ``environment`` (as received) is the client's: local or absent."""
    if environment is None:
        return True
    return isinstance(environment, Mapping) and environment.get("type") in (None, "local")


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


class ApplyPatchCall(ClientCallBase):
    """The model asks to create, update or delete one file."""

    type: Literal["apply_patch_call"] = "apply_patch_call"
    call_id: str
    operation: ApplyPatchOperation
    id: str | None = None
    status: str | None = None

    output_type: ClassVar[str] = "apply_patch_call_output"

    def arguments_text(self, *, exact: bool = False) -> str:
        """The operation and its path, e.g. ``update_file src/app.py``."""
        return f"{self.operation.type} {self.operation.path}"

    @classmethod
    def failed_output(
        cls,
        call_id: str,
        message: str,
        *,
        timed_out: bool = False,
        max_output_length: int | None = None,
    ) -> ApplyPatchCallOutput:
        """A ``failed`` output holding ``message``."""
        return ApplyPatchCallOutput(call_id=call_id, status="failed", output=message)


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


class LocalShellCall(ClientCallBase):
    """The model asks to run one command (the legacy ``local_shell`` tool)."""

    type: Literal["local_shell_call"] = "local_shell_call"
    call_id: str
    action: LocalShellExecAction
    id: str | None = None
    status: str | None = None

    output_type: ClassVar[str] = "local_shell_call_output"

    def arguments_text(self, *, exact: bool = False) -> str:
        """The argv: shell-quoted when ``exact``, else its words joined with spaces."""
        argv = self.action.command
        return shlex.join(argv) if exact else " ".join(argv)

    @classmethod
    def failed_output(
        cls,
        call_id: str,
        message: str,
        *,
        timed_out: bool = False,
        max_output_length: int | None = None,
    ) -> LocalShellCallOutput:
        """The usual JSON body with ``message`` as stderr (exit code 1, or none on timeout)."""
        exit_code = None if timed_out else 1
        return LocalShellCallOutput.of(
            call_id, stdout="", stderr=message, exit_code=exit_code, timed_out=timed_out
        )


class LocalShellCallOutput(WireModel):
    """The result of a local shell call. It has no ``call_id``: ``id`` carries the call's id."""

    type: Literal["local_shell_call_output"] = "local_shell_call_output"
    id: str
    output: str
    status: str | None = None

    @classmethod
    def of(
        cls, call_id: str, *, stdout: str, stderr: str, exit_code: int | None, timed_out: bool
    ) -> LocalShellCallOutput:
        """The output answering ``call_id``: its JSON text in ``output``.

        The executor and the failure outputs both build it here, so the model always reads the
        same shape.
        """
        body = {"stdout": stdout, "stderr": stderr, "exit_code": exit_code, "timed_out": timed_out}
        return cls(id=call_id, output=json.dumps(body, ensure_ascii=False), status="completed")


# --- computer ------------------------------------------------------------------------------


class ComputerCall(ClientCallBase):
    """The model asks for one ``action`` or a batch of ``actions`` on the screen."""

    type: Literal["computer_call"] = "computer_call"
    call_id: str
    id: str | None = None
    action: ComputerAction | None = None
    actions: list[ComputerAction] | None = None
    pending_safety_checks: list[SafetyCheck] | None = None
    status: str | None = None

    output_type: ClassVar[str] = "computer_call_output"
    output_holds_text: ClassVar[bool] = False

    def arguments_text(self, *, exact: bool = False) -> str:
        """The action types, e.g. ``click, type``."""
        actions = self.actions if self.actions is not None else [self.action]
        return ", ".join(str(getattr(a, "type", None) or "?") for a in actions if a is not None)

    @classmethod
    def failed_output(
        cls,
        call_id: str,
        message: str,
        *,
        timed_out: bool = False,
        max_output_length: int | None = None,
    ) -> ComputerCallOutput:
        """A blank screenshot marked incomplete: the words go in a note after it."""
        return ComputerCallOutput(
            call_id=call_id, output=ComputerScreenshot(image_url=BLANK_PNG), status="incomplete"
        )


class ComputerCallOutput(WireModel):
    """The result of a computer call: a screenshot, plus the safety checks acknowledged."""

    type: Literal["computer_call_output"] = "computer_call_output"
    call_id: str
    output: ComputerScreenshot
    acknowledged_safety_checks: list[SafetyCheck] | None = None
    id: str | None = None
    status: str | None = None


ClientCall = (
    FunctionCall | CustomToolCall | ShellCall | ApplyPatchCall | LocalShellCall | ComputerCall
)
"""A call item the client executes (each class a :class:`ClientCallBase`)."""

ClientCallOutput = (
    FunctionCallOutput
    | CustomToolCallOutput
    | ShellCallOutput
    | ApplyPatchCallOutput
    | LocalShellCallOutput
    | ComputerCallOutput
)
"""The output item answering a :data:`ClientCall`."""

CLIENT_CALL_CLASSES: Mapping[str, type[ClientCallBase]] = MappingProxyType(
    {cls.model_fields["type"].default: cls for cls in get_args(ClientCall)}
)
"""Each client call type mapped to its class."""

CALL_OUTPUT_TYPES: Mapping[str, str] = MappingProxyType(
    {kind: cls.output_type for kind, cls in CLIENT_CALL_CLASSES.items()}
)
"""Each client-executable call type mapped to the type of the output item that answers it."""
