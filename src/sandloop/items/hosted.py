"""Items the server produces and runs itself: hosted tools, MCP and tool search (spec §3.7, §4).

The loop does not execute these (except answering ``mcp_approval_request`` and client-run
``tool_search_call``); it records them and replays them unchanged. Their less common fields stay
as extra data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from sandloop.items._base import WireModel
from sandloop.items.tools import ToolParam

__all__ = (
    "AdditionalTools",
    "CodeInterpreterCall",
    "FileSearchCall",
    "ImageGenerationCall",
    "McpApprovalRequest",
    "McpApprovalResponse",
    "McpCall",
    "McpListTools",
    "ToolSearchCall",
    "ToolSearchOutput",
    "WebSearchCall",
)


class WebSearchCall(WireModel):
    """A hosted web search the server ran."""

    type: Literal["web_search_call"] = "web_search_call"
    id: str | None = None
    status: str | None = None
    action: dict[str, Any] | None = None


class FileSearchCall(WireModel):
    """A hosted file search the server ran."""

    type: Literal["file_search_call"] = "file_search_call"
    id: str | None = None
    status: str | None = None
    queries: list[str] | None = None
    results: list[dict[str, Any]] | None = None


class CodeInterpreterCall(WireModel):
    """Hosted Python the server ran."""

    type: Literal["code_interpreter_call"] = "code_interpreter_call"
    id: str | None = None
    status: str | None = None
    container_id: str | None = None
    code: str | None = None
    outputs: list[dict[str, Any]] | None = None


class ImageGenerationCall(WireModel):
    """A hosted image generation; ``result`` is the base64 image."""

    type: Literal["image_generation_call"] = "image_generation_call"
    id: str | None = None
    status: str | None = None
    result: str | None = None


class McpListTools(WireModel):
    """The tools an MCP server offers."""

    type: Literal["mcp_list_tools"] = "mcp_list_tools"
    id: str | None = None
    server_label: str | None = None
    tools: list[dict[str, Any]] | None = None
    error: str | None = None


class McpCall(WireModel):
    """A remote MCP tool call the server made."""

    type: Literal["mcp_call"] = "mcp_call"
    id: str | None = None
    server_label: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    error: str | dict[str, Any] | None = None
    approval_request_id: str | None = None
    status: str | None = None


class McpApprovalRequest(WireModel):
    """The server asks whether it may make an MCP call: answer with ``McpApprovalResponse``."""

    type: Literal["mcp_approval_request"] = "mcp_approval_request"
    id: str
    server_label: str | None = None
    name: str | None = None
    arguments: str | None = None


class McpApprovalResponse(WireModel):
    """The client's decision on an ``McpApprovalRequest``."""

    type: Literal["mcp_approval_response"] = "mcp_approval_response"
    approval_request_id: str
    approve: bool
    reason: str | None = None
    id: str | None = None


class ToolSearchCall(WireModel):
    """A search over deferred tools; run by the client when ``execution == "client"``.

    ``arguments`` is whatever the model sent for the client ``tool_search`` tool's parameters
    (an object; :mod:`sandloop.dispatch.tool_search` reads it).
    """

    type: Literal["tool_search_call"] = "tool_search_call"
    id: str | None = None
    call_id: str | None = None
    execution: str | None = None
    arguments: Any = None
    status: str | None = None

    #: Its output lists tools only: a failure's words go in a note after it.
    output_holds_text: ClassVar[bool] = False
    #: Routed by its type (one searcher answers every search).
    routed_by_name: ClassVar[bool] = False

    @property
    def tool_key(self) -> str:
        """Routed by its type, like every unnamed call family."""
        return self.type

    @property
    def label(self) -> str:
        """``tool_search``."""
        return "tool_search"

    @property
    def runs_locally(self) -> bool:
        """Ours to answer when its ``execution`` is ``client`` (else the API runs it) and it has
        a ``call_id`` to answer."""
        return self.execution == "client" and bool(self.call_id)

    def arguments_text(self, *, exact: bool = False) -> str:
        """The arguments as JSON (cut at 2000 characters)."""
        text = json.dumps(self.arguments, ensure_ascii=False, default=str)
        return text if len(text) <= 2000 else text[:2000] + "..."

    @classmethod
    def runs_locally_as_received(cls, raw: Mapping[str, Any]) -> bool:
        """:attr:`runs_locally` of a search that failed validation: its ``execution``."""
        return raw.get("execution") == "client"

    def failure_output(self, message: str, *, timed_out: bool = False) -> ToolSearchOutput:
        """A client tool search that loaded no tools (the output holds no text)."""
        return type(self).failed_output(self.call_id or "", message)

    @classmethod
    def failed_output(
        cls,
        call_id: str,
        message: str,
        *,
        timed_out: bool = False,
        max_output_length: int | None = None,
    ) -> ToolSearchOutput:
        """A ``tool_search_output`` answering ``call_id`` that loads no tools."""
        return ToolSearchOutput(call_id=call_id, tools=[], execution="client", status="completed")


class ToolSearchOutput(WireModel):
    """The tools a tool search loaded."""

    type: Literal["tool_search_output"] = "tool_search_output"
    tools: list[ToolParam] = Field(default_factory=list)
    id: str | None = None
    call_id: str | None = None
    execution: str | None = None
    status: str | None = None


class AdditionalTools(WireModel):
    """Tools added from this point of the conversation on."""

    type: Literal["additional_tools"] = "additional_tools"
    tools: list[ToolParam] = Field(default_factory=list)
    role: str | None = None
    id: str | None = None
