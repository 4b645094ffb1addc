"""Progress events of hosted tools, audio, hosted shell, and other rarely used stream events.

Part of the ``StreamEvent`` union (see ``events``). The loop only forwards these to observers;
their payloads are typed loosely, and every field stays available.
"""

from __future__ import annotations

from typing import Any, Literal

from sandloop.items._base import StreamEventBase

__all__ = (
    "ResponseApplyPatchCallOperationDiffDeltaEvent",
    "ResponseApplyPatchCallOperationDiffDoneEvent",
    "ResponseAudioDeltaEvent",
    "ResponseAudioDoneEvent",
    "ResponseAudioTranscriptDeltaEvent",
    "ResponseAudioTranscriptDoneEvent",
    "ResponseCodeInterpreterCallCodeDeltaEvent",
    "ResponseCodeInterpreterCallCodeDoneEvent",
    "ResponseCodeInterpreterCallCompletedEvent",
    "ResponseCodeInterpreterCallInProgressEvent",
    "ResponseCodeInterpreterCallInterpretingEvent",
    "ResponseCompactionCompactingEvent",
    "ResponseFileSearchCallCompletedEvent",
    "ResponseFileSearchCallInProgressEvent",
    "ResponseFileSearchCallSearchingEvent",
    "ResponseImageGenCallCompletedEvent",
    "ResponseImageGenCallGeneratingEvent",
    "ResponseImageGenCallInProgressEvent",
    "ResponseImageGenCallPartialImageEvent",
    "ResponseMCPCallArgumentsDeltaEvent",
    "ResponseMCPCallArgumentsDoneEvent",
    "ResponseMCPCallCompletedEvent",
    "ResponseMCPCallFailedEvent",
    "ResponseMCPCallInProgressEvent",
    "ResponseMCPListToolsCompletedEvent",
    "ResponseMCPListToolsFailedEvent",
    "ResponseMCPListToolsInProgressEvent",
    "ResponseShellCallCommandAddedStreamingEvent",
    "ResponseShellCallCommandDeltaStreamingEvent",
    "ResponseShellCallCommandDoneStreamingEvent",
    "ResponseShellCallOutputContentDeltaStreamingEvent",
    "ResponseShellCallOutputContentDoneStreamingEvent",
    "ResponseWebSearchCallCompletedEvent",
    "ResponseWebSearchCallInProgressEvent",
    "ResponseWebSearchCallSearchingEvent",
)


class ResponseFileSearchCallInProgressEvent(StreamEventBase):
    """A file search started."""

    type: Literal["response.file_search_call.in_progress"] = "response.file_search_call.in_progress"
    item_id: str | None = None
    output_index: int | None = None


class ResponseFileSearchCallSearchingEvent(StreamEventBase):
    """A file search is searching."""

    type: Literal["response.file_search_call.searching"] = "response.file_search_call.searching"
    item_id: str | None = None
    output_index: int | None = None


class ResponseFileSearchCallCompletedEvent(StreamEventBase):
    """A file search finished."""

    type: Literal["response.file_search_call.completed"] = "response.file_search_call.completed"
    item_id: str | None = None
    output_index: int | None = None


class ResponseWebSearchCallInProgressEvent(StreamEventBase):
    """A web search started."""

    type: Literal["response.web_search_call.in_progress"] = "response.web_search_call.in_progress"
    item_id: str | None = None
    output_index: int | None = None


class ResponseWebSearchCallSearchingEvent(StreamEventBase):
    """A web search is searching."""

    type: Literal["response.web_search_call.searching"] = "response.web_search_call.searching"
    item_id: str | None = None
    output_index: int | None = None


class ResponseWebSearchCallCompletedEvent(StreamEventBase):
    """A web search finished."""

    type: Literal["response.web_search_call.completed"] = "response.web_search_call.completed"
    item_id: str | None = None
    output_index: int | None = None


class ResponseCodeInterpreterCallInProgressEvent(StreamEventBase):
    """A code interpreter call started."""

    type: Literal["response.code_interpreter_call.in_progress"] = (
        "response.code_interpreter_call.in_progress"
    )
    item_id: str | None = None
    output_index: int | None = None


class ResponseCodeInterpreterCallInterpretingEvent(StreamEventBase):
    """A code interpreter call is running code."""

    type: Literal["response.code_interpreter_call.interpreting"] = (
        "response.code_interpreter_call.interpreting"
    )
    item_id: str | None = None
    output_index: int | None = None


class ResponseCodeInterpreterCallCompletedEvent(StreamEventBase):
    """A code interpreter call finished."""

    type: Literal["response.code_interpreter_call.completed"] = (
        "response.code_interpreter_call.completed"
    )
    item_id: str | None = None
    output_index: int | None = None


class ResponseCodeInterpreterCallCodeDeltaEvent(StreamEventBase):
    """A fragment of code interpreter code."""

    type: Literal["response.code_interpreter_call_code.delta"] = (
        "response.code_interpreter_call_code.delta"
    )
    item_id: str | None = None
    output_index: int | None = None
    delta: str | None = None


class ResponseCodeInterpreterCallCodeDoneEvent(StreamEventBase):
    """The full code of a code interpreter call."""

    type: Literal["response.code_interpreter_call_code.done"] = (
        "response.code_interpreter_call_code.done"
    )
    item_id: str | None = None
    output_index: int | None = None
    code: str | None = None


class ResponseImageGenCallInProgressEvent(StreamEventBase):
    """An image generation started."""

    type: Literal["response.image_generation_call.in_progress"] = (
        "response.image_generation_call.in_progress"
    )
    item_id: str | None = None
    output_index: int | None = None


class ResponseImageGenCallGeneratingEvent(StreamEventBase):
    """An image is being generated."""

    type: Literal["response.image_generation_call.generating"] = (
        "response.image_generation_call.generating"
    )
    item_id: str | None = None
    output_index: int | None = None


class ResponseImageGenCallCompletedEvent(StreamEventBase):
    """An image generation finished."""

    type: Literal["response.image_generation_call.completed"] = (
        "response.image_generation_call.completed"
    )
    item_id: str | None = None
    output_index: int | None = None


class ResponseImageGenCallPartialImageEvent(StreamEventBase):
    """A partial image (base64) is available."""

    type: Literal["response.image_generation_call.partial_image"] = (
        "response.image_generation_call.partial_image"
    )
    item_id: str | None = None
    output_index: int | None = None
    partial_image_index: int | None = None
    partial_image_b64: str | None = None


class ResponseMCPCallInProgressEvent(StreamEventBase):
    """An MCP call started."""

    type: Literal["response.mcp_call.in_progress"] = "response.mcp_call.in_progress"
    item_id: str | None = None
    output_index: int | None = None


class ResponseMCPCallCompletedEvent(StreamEventBase):
    """An MCP call finished."""

    type: Literal["response.mcp_call.completed"] = "response.mcp_call.completed"
    item_id: str | None = None
    output_index: int | None = None


class ResponseMCPCallFailedEvent(StreamEventBase):
    """An MCP call failed."""

    type: Literal["response.mcp_call.failed"] = "response.mcp_call.failed"
    item_id: str | None = None
    output_index: int | None = None


class ResponseMCPCallArgumentsDeltaEvent(StreamEventBase):
    """A fragment of an MCP call's arguments."""

    type: Literal["response.mcp_call_arguments.delta"] = "response.mcp_call_arguments.delta"
    item_id: str | None = None
    output_index: int | None = None
    delta: str | None = None


class ResponseMCPCallArgumentsDoneEvent(StreamEventBase):
    """An MCP call's full arguments."""

    type: Literal["response.mcp_call_arguments.done"] = "response.mcp_call_arguments.done"
    item_id: str | None = None
    output_index: int | None = None
    arguments: str | None = None


class ResponseMCPListToolsInProgressEvent(StreamEventBase):
    """Listing an MCP server's tools started."""

    type: Literal["response.mcp_list_tools.in_progress"] = "response.mcp_list_tools.in_progress"
    item_id: str | None = None
    output_index: int | None = None


class ResponseMCPListToolsCompletedEvent(StreamEventBase):
    """Listing an MCP server's tools finished."""

    type: Literal["response.mcp_list_tools.completed"] = "response.mcp_list_tools.completed"
    item_id: str | None = None
    output_index: int | None = None


class ResponseMCPListToolsFailedEvent(StreamEventBase):
    """Listing an MCP server's tools failed."""

    type: Literal["response.mcp_list_tools.failed"] = "response.mcp_list_tools.failed"
    item_id: str | None = None
    output_index: int | None = None


class ResponseAudioDeltaEvent(StreamEventBase):
    """A fragment of audio (base64)."""

    type: Literal["response.audio.delta"] = "response.audio.delta"
    delta: str | None = None


class ResponseAudioDoneEvent(StreamEventBase):
    """The audio is complete."""

    type: Literal["response.audio.done"] = "response.audio.done"
    response_id: str | None = None


class ResponseAudioTranscriptDeltaEvent(StreamEventBase):
    """A fragment of the audio transcript."""

    type: Literal["response.audio.transcript.delta"] = "response.audio.transcript.delta"
    response_id: str | None = None
    delta: str | None = None


class ResponseAudioTranscriptDoneEvent(StreamEventBase):
    """The audio transcript is complete."""

    type: Literal["response.audio.transcript.done"] = "response.audio.transcript.done"
    response_id: str | None = None


class ResponseShellCallCommandAddedStreamingEvent(StreamEventBase):
    """A shell call command started streaming."""

    type: Literal["response.shell_call_command.added"] = "response.shell_call_command.added"
    output_index: int | None = None
    command_index: int | None = None
    command: str | None = None


class ResponseShellCallCommandDeltaStreamingEvent(StreamEventBase):
    """A fragment of a shell call command."""

    type: Literal["response.shell_call_command.delta"] = "response.shell_call_command.delta"
    output_index: int | None = None
    command_index: int | None = None
    delta: str | None = None


class ResponseShellCallCommandDoneStreamingEvent(StreamEventBase):
    """A shell call command is complete."""

    type: Literal["response.shell_call_command.done"] = "response.shell_call_command.done"
    output_index: int | None = None
    command_index: int | None = None
    command: str | None = None


class ResponseShellCallOutputContentDeltaStreamingEvent(StreamEventBase):
    """A fragment of hosted shell output."""

    type: Literal["response.shell_call_output_content.delta"] = (
        "response.shell_call_output_content.delta"
    )
    item_id: str | None = None
    output_index: int | None = None
    command_index: int | None = None
    delta: Any = None


class ResponseShellCallOutputContentDoneStreamingEvent(StreamEventBase):
    """Hosted shell output of one command is complete."""

    type: Literal["response.shell_call_output_content.done"] = (
        "response.shell_call_output_content.done"
    )
    item_id: str | None = None
    output_index: int | None = None
    command_index: int | None = None
    output: Any = None


class ResponseApplyPatchCallOperationDiffDeltaEvent(StreamEventBase):
    """A fragment of an apply_patch operation's diff (not in openapi.yaml)."""

    type: Literal["response.apply_patch_call_operation_diff.delta"] = (
        "response.apply_patch_call_operation_diff.delta"
    )
    item_id: str | None = None
    output_index: int | None = None
    delta: str | None = None


class ResponseApplyPatchCallOperationDiffDoneEvent(StreamEventBase):
    """An apply_patch operation's full diff (not in openapi.yaml)."""

    type: Literal["response.apply_patch_call_operation_diff.done"] = (
        "response.apply_patch_call_operation_diff.done"
    )
    item_id: str | None = None
    output_index: int | None = None
    diff: str | None = None


class ResponseCompactionCompactingEvent(StreamEventBase):
    """The server is compacting the context (not in openapi.yaml)."""

    type: Literal["response.compaction.compacting"] = "response.compaction.compacting"
