"""Streaming events (``stream: true``): every ``ResponseStreamEvent`` of openapi.yaml (spec §5).

The client decodes each SSE ``data:`` line with ``parse_event``; the loop reacts to the lifecycle,
output item and call-argument events defined here. Message text and reasoning deltas live in
``message_events``, hosted-tool progress events in ``progress_events``. An event type this
version does not know becomes ``UnknownEvent``, so a newer server never breaks a stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from sandloop.errors import InvalidResponseError
from sandloop.items._base import (
    WIRE_CONTEXT,
    StreamEventBase,
    UnknownWireModel,
    replace_lone_surrogates,
    type_tagger,
)
from sandloop.items.items import Item, describe_validation_error
from sandloop.items.message_events import (
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseReasoningTextDoneEvent,
    ResponseRefusalDeltaEvent,
    ResponseRefusalDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from sandloop.items.progress_events import (
    ResponseApplyPatchCallOperationDiffDeltaEvent,
    ResponseApplyPatchCallOperationDiffDoneEvent,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseCodeInterpreterCallCodeDeltaEvent,
    ResponseCodeInterpreterCallCodeDoneEvent,
    ResponseCodeInterpreterCallCompletedEvent,
    ResponseCodeInterpreterCallInProgressEvent,
    ResponseCodeInterpreterCallInterpretingEvent,
    ResponseCompactionCompactingEvent,
    ResponseFileSearchCallCompletedEvent,
    ResponseFileSearchCallInProgressEvent,
    ResponseFileSearchCallSearchingEvent,
    ResponseImageGenCallCompletedEvent,
    ResponseImageGenCallGeneratingEvent,
    ResponseImageGenCallInProgressEvent,
    ResponseImageGenCallPartialImageEvent,
    ResponseMCPCallArgumentsDeltaEvent,
    ResponseMCPCallArgumentsDoneEvent,
    ResponseMCPCallCompletedEvent,
    ResponseMCPCallFailedEvent,
    ResponseMCPCallInProgressEvent,
    ResponseMCPListToolsCompletedEvent,
    ResponseMCPListToolsFailedEvent,
    ResponseMCPListToolsInProgressEvent,
    ResponseShellCallCommandAddedStreamingEvent,
    ResponseShellCallCommandDeltaStreamingEvent,
    ResponseShellCallCommandDoneStreamingEvent,
    ResponseShellCallOutputContentDeltaStreamingEvent,
    ResponseShellCallOutputContentDoneStreamingEvent,
    ResponseWebSearchCallCompletedEvent,
    ResponseWebSearchCallInProgressEvent,
    ResponseWebSearchCallSearchingEvent,
)
from sandloop.items.response import Response

__all__ = (
    "ResponseCompletedEvent",
    "ResponseCreatedEvent",
    "ResponseCustomToolCallInputDeltaEvent",
    "ResponseCustomToolCallInputDoneEvent",
    "ResponseErrorEvent",
    "ResponseFailedEvent",
    "ResponseFunctionCallArgumentsDeltaEvent",
    "ResponseFunctionCallArgumentsDoneEvent",
    "ResponseInProgressEvent",
    "ResponseIncompleteEvent",
    "ResponseOutputItemAddedEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseQueuedEvent",
    "StreamEvent",
    "StreamEventBase",
    "UnknownEvent",
    "parse_event",
)


class ResponseCreatedEvent(StreamEventBase):
    """The response was created (``status`` in_progress or queued)."""

    type: Literal["response.created"] = "response.created"
    response: Response


class ResponseInProgressEvent(StreamEventBase):
    """The response is being generated."""

    type: Literal["response.in_progress"] = "response.in_progress"
    response: Response


class ResponseQueuedEvent(StreamEventBase):
    """The response is queued (background mode)."""

    type: Literal["response.queued"] = "response.queued"
    response: Response


class ResponseCompletedEvent(StreamEventBase):
    """The response finished; ``response`` is final."""

    type: Literal["response.completed"] = "response.completed"
    response: Response


class ResponseFailedEvent(StreamEventBase):
    """The response failed; see ``response.error``."""

    type: Literal["response.failed"] = "response.failed"
    response: Response


class ResponseIncompleteEvent(StreamEventBase):
    """The response stopped early; see ``response.incomplete_details``."""

    type: Literal["response.incomplete"] = "response.incomplete"
    response: Response


class ResponseOutputItemAddedEvent(StreamEventBase):
    """An output item started."""

    type: Literal["response.output_item.added"] = "response.output_item.added"
    output_index: int | None = None
    item: Item


class ResponseOutputItemDoneEvent(StreamEventBase):
    """An output item is final (authoritative)."""

    type: Literal["response.output_item.done"] = "response.output_item.done"
    output_index: int | None = None
    item: Item


class ResponseFunctionCallArgumentsDeltaEvent(StreamEventBase):
    """A fragment of a function call's arguments."""

    type: Literal["response.function_call_arguments.delta"] = (
        "response.function_call_arguments.delta"
    )
    item_id: str | None = None
    output_index: int | None = None
    delta: str


class ResponseFunctionCallArgumentsDoneEvent(StreamEventBase):
    """A function call's full arguments."""

    type: Literal["response.function_call_arguments.done"] = "response.function_call_arguments.done"
    item_id: str | None = None
    output_index: int | None = None
    name: str | None = None
    arguments: str


class ResponseCustomToolCallInputDeltaEvent(StreamEventBase):
    """A fragment of a custom tool call's input."""

    type: Literal["response.custom_tool_call_input.delta"] = "response.custom_tool_call_input.delta"
    item_id: str | None = None
    output_index: int | None = None
    delta: str


class ResponseCustomToolCallInputDoneEvent(StreamEventBase):
    """A custom tool call's full input."""

    type: Literal["response.custom_tool_call_input.done"] = "response.custom_tool_call_input.done"
    item_id: str | None = None
    output_index: int | None = None
    input: str


class ResponseErrorEvent(StreamEventBase):
    """The stream reports an error (the response will not complete)."""

    type: Literal["error"] = "error"
    code: str | None = None
    message: str | None = None
    param: str | None = None


class UnknownEvent(UnknownWireModel):
    """An event type this version does not know; ``raw`` holds it unchanged."""


StreamEvent = Annotated[
    Annotated[ResponseCreatedEvent, Tag("response.created")]
    | Annotated[ResponseInProgressEvent, Tag("response.in_progress")]
    | Annotated[ResponseQueuedEvent, Tag("response.queued")]
    | Annotated[ResponseCompletedEvent, Tag("response.completed")]
    | Annotated[ResponseFailedEvent, Tag("response.failed")]
    | Annotated[ResponseIncompleteEvent, Tag("response.incomplete")]
    | Annotated[ResponseOutputItemAddedEvent, Tag("response.output_item.added")]
    | Annotated[ResponseOutputItemDoneEvent, Tag("response.output_item.done")]
    | Annotated[ResponseContentPartAddedEvent, Tag("response.content_part.added")]
    | Annotated[ResponseContentPartDoneEvent, Tag("response.content_part.done")]
    | Annotated[ResponseTextDeltaEvent, Tag("response.output_text.delta")]
    | Annotated[ResponseTextDoneEvent, Tag("response.output_text.done")]
    | Annotated[
        ResponseOutputTextAnnotationAddedEvent, Tag("response.output_text.annotation.added")
    ]
    | Annotated[ResponseRefusalDeltaEvent, Tag("response.refusal.delta")]
    | Annotated[ResponseRefusalDoneEvent, Tag("response.refusal.done")]
    | Annotated[
        ResponseFunctionCallArgumentsDeltaEvent, Tag("response.function_call_arguments.delta")
    ]
    | Annotated[
        ResponseFunctionCallArgumentsDoneEvent, Tag("response.function_call_arguments.done")
    ]
    | Annotated[ResponseCustomToolCallInputDeltaEvent, Tag("response.custom_tool_call_input.delta")]
    | Annotated[ResponseCustomToolCallInputDoneEvent, Tag("response.custom_tool_call_input.done")]
    | Annotated[
        ResponseReasoningSummaryPartAddedEvent, Tag("response.reasoning_summary_part.added")
    ]
    | Annotated[ResponseReasoningSummaryPartDoneEvent, Tag("response.reasoning_summary_part.done")]
    | Annotated[
        ResponseReasoningSummaryTextDeltaEvent, Tag("response.reasoning_summary_text.delta")
    ]
    | Annotated[ResponseReasoningSummaryTextDoneEvent, Tag("response.reasoning_summary_text.done")]
    | Annotated[ResponseReasoningTextDeltaEvent, Tag("response.reasoning_text.delta")]
    | Annotated[ResponseReasoningTextDoneEvent, Tag("response.reasoning_text.done")]
    | Annotated[ResponseErrorEvent, Tag("error")]
    | Annotated[ResponseFileSearchCallInProgressEvent, Tag("response.file_search_call.in_progress")]
    | Annotated[ResponseFileSearchCallSearchingEvent, Tag("response.file_search_call.searching")]
    | Annotated[ResponseFileSearchCallCompletedEvent, Tag("response.file_search_call.completed")]
    | Annotated[ResponseWebSearchCallInProgressEvent, Tag("response.web_search_call.in_progress")]
    | Annotated[ResponseWebSearchCallSearchingEvent, Tag("response.web_search_call.searching")]
    | Annotated[ResponseWebSearchCallCompletedEvent, Tag("response.web_search_call.completed")]
    | Annotated[
        ResponseCodeInterpreterCallInProgressEvent,
        Tag("response.code_interpreter_call.in_progress"),
    ]
    | Annotated[
        ResponseCodeInterpreterCallInterpretingEvent,
        Tag("response.code_interpreter_call.interpreting"),
    ]
    | Annotated[
        ResponseCodeInterpreterCallCompletedEvent, Tag("response.code_interpreter_call.completed")
    ]
    | Annotated[
        ResponseCodeInterpreterCallCodeDeltaEvent, Tag("response.code_interpreter_call_code.delta")
    ]
    | Annotated[
        ResponseCodeInterpreterCallCodeDoneEvent, Tag("response.code_interpreter_call_code.done")
    ]
    | Annotated[
        ResponseImageGenCallInProgressEvent, Tag("response.image_generation_call.in_progress")
    ]
    | Annotated[
        ResponseImageGenCallGeneratingEvent, Tag("response.image_generation_call.generating")
    ]
    | Annotated[ResponseImageGenCallCompletedEvent, Tag("response.image_generation_call.completed")]
    | Annotated[
        ResponseImageGenCallPartialImageEvent, Tag("response.image_generation_call.partial_image")
    ]
    | Annotated[ResponseMCPCallInProgressEvent, Tag("response.mcp_call.in_progress")]
    | Annotated[ResponseMCPCallCompletedEvent, Tag("response.mcp_call.completed")]
    | Annotated[ResponseMCPCallFailedEvent, Tag("response.mcp_call.failed")]
    | Annotated[ResponseMCPCallArgumentsDeltaEvent, Tag("response.mcp_call_arguments.delta")]
    | Annotated[ResponseMCPCallArgumentsDoneEvent, Tag("response.mcp_call_arguments.done")]
    | Annotated[ResponseMCPListToolsInProgressEvent, Tag("response.mcp_list_tools.in_progress")]
    | Annotated[ResponseMCPListToolsCompletedEvent, Tag("response.mcp_list_tools.completed")]
    | Annotated[ResponseMCPListToolsFailedEvent, Tag("response.mcp_list_tools.failed")]
    | Annotated[ResponseAudioDeltaEvent, Tag("response.audio.delta")]
    | Annotated[ResponseAudioDoneEvent, Tag("response.audio.done")]
    | Annotated[ResponseAudioTranscriptDeltaEvent, Tag("response.audio.transcript.delta")]
    | Annotated[ResponseAudioTranscriptDoneEvent, Tag("response.audio.transcript.done")]
    | Annotated[
        ResponseShellCallCommandAddedStreamingEvent, Tag("response.shell_call_command.added")
    ]
    | Annotated[
        ResponseShellCallCommandDeltaStreamingEvent, Tag("response.shell_call_command.delta")
    ]
    | Annotated[ResponseShellCallCommandDoneStreamingEvent, Tag("response.shell_call_command.done")]
    | Annotated[
        ResponseShellCallOutputContentDeltaStreamingEvent,
        Tag("response.shell_call_output_content.delta"),
    ]
    | Annotated[
        ResponseShellCallOutputContentDoneStreamingEvent,
        Tag("response.shell_call_output_content.done"),
    ]
    | Annotated[
        ResponseApplyPatchCallOperationDiffDeltaEvent,
        Tag("response.apply_patch_call_operation_diff.delta"),
    ]
    | Annotated[
        ResponseApplyPatchCallOperationDiffDoneEvent,
        Tag("response.apply_patch_call_operation_diff.done"),
    ]
    | Annotated[ResponseCompactionCompactingEvent, Tag("response.compaction.compacting")]
    | Annotated[UnknownEvent, Tag("unknown")],
    Discriminator(
        type_tagger(
            [
                "response.created",
                "response.in_progress",
                "response.queued",
                "response.completed",
                "response.failed",
                "response.incomplete",
                "response.output_item.added",
                "response.output_item.done",
                "response.content_part.added",
                "response.content_part.done",
                "response.output_text.delta",
                "response.output_text.done",
                "response.output_text.annotation.added",
                "response.refusal.delta",
                "response.refusal.done",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.custom_tool_call_input.delta",
                "response.custom_tool_call_input.done",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_part.done",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_text.delta",
                "response.reasoning_text.done",
                "error",
                "response.file_search_call.in_progress",
                "response.file_search_call.searching",
                "response.file_search_call.completed",
                "response.web_search_call.in_progress",
                "response.web_search_call.searching",
                "response.web_search_call.completed",
                "response.code_interpreter_call.in_progress",
                "response.code_interpreter_call.interpreting",
                "response.code_interpreter_call.completed",
                "response.code_interpreter_call_code.delta",
                "response.code_interpreter_call_code.done",
                "response.image_generation_call.in_progress",
                "response.image_generation_call.generating",
                "response.image_generation_call.completed",
                "response.image_generation_call.partial_image",
                "response.mcp_call.in_progress",
                "response.mcp_call.completed",
                "response.mcp_call.failed",
                "response.mcp_call_arguments.delta",
                "response.mcp_call_arguments.done",
                "response.mcp_list_tools.in_progress",
                "response.mcp_list_tools.completed",
                "response.mcp_list_tools.failed",
                "response.audio.delta",
                "response.audio.done",
                "response.audio.transcript.delta",
                "response.audio.transcript.done",
                "response.shell_call_command.added",
                "response.shell_call_command.delta",
                "response.shell_call_command.done",
                "response.shell_call_output_content.delta",
                "response.shell_call_output_content.done",
                "response.apply_patch_call_operation_diff.delta",
                "response.apply_patch_call_operation_diff.done",
                "response.compaction.compacting",
            ]
        )
    ),
]
"""Any stream event, discriminated on ``type``; unknown types become ``UnknownEvent``."""

_EVENT_ADAPTER: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)


def parse_event(data: Mapping[str, Any]) -> StreamEvent:
    """Parse the JSON of one SSE ``data:`` line.

    Raises:
        InvalidResponseError: a known event type with missing or malformed fields.
    """
    value = replace_lone_surrogates(data if isinstance(data, dict) else dict(data))
    try:
        return _EVENT_ADAPTER.validate_python(value, context=WIRE_CONTEXT)
    except ValidationError as exc:
        what = f"{value.get('type')!r} stream event"
        raise InvalidResponseError(describe_validation_error(what, exc, tagged=True)) from exc
