"""Tool definitions: the wire JSON of the request's ``tools`` list (spec §3, §3.8).

The executors build the client-side definitions (function, custom, shell, apply_patch, local_shell,
computer); the hosted ones are passed through. A Response echoes its tools, so every definition is
parsed too; a tool type this version does not know becomes ``UnknownToolParam``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, TypeAdapter

from sandloop.items._base import WIRE_CONTEXT, UnknownWireModel, WireModel

__all__ = (
    "ApplyPatchToolParam",
    "CodeInterpreterToolParam",
    "ComputerToolParam",
    "ComputerUsePreviewToolParam",
    "CustomToolFormat",
    "CustomToolParam",
    "FileSearchToolParam",
    "FunctionToolParam",
    "GrammarFormat",
    "ImageGenerationToolParam",
    "LocalShellToolParam",
    "McpToolParam",
    "NamespaceToolParam",
    "ShellToolParam",
    "TextFormat",
    "ToolParam",
    "ToolSearchToolParam",
    "UnknownToolParam",
    "WebSearchToolParam",
    "parse_tool",
)


class FunctionToolParam(WireModel):
    """A function tool: JSON-schema ``parameters``, strict by default."""

    type: Literal["function"] = "function"
    name: str
    parameters: dict[str, Any] | None = None
    strict: bool | None = True
    description: str | None = None
    defer_loading: bool | None = None

    # The spec lists ``strict`` as required; sending it explicitly is the safe choice (§7.6).
    _always_sent: ClassVar[tuple[str, ...]] = ("type", "strict")


class TextFormat(WireModel):
    """Unconstrained text input for a custom tool (the default)."""

    type: Literal["text"] = "text"


class GrammarFormat(WireModel):
    """Input constrained by a Lark or regex grammar."""

    type: Literal["grammar"] = "grammar"
    syntax: Literal["lark", "regex"]
    definition: str


CustomToolFormat = Annotated[TextFormat | GrammarFormat, Discriminator("type")]
"""The ``format`` of a custom tool."""


class CustomToolParam(WireModel):
    """A custom tool: free-form text input, optionally constrained by a grammar."""

    type: Literal["custom"] = "custom"
    name: str
    description: str | None = None
    format: CustomToolFormat | None = None
    defer_loading: bool | None = None


class ShellToolParam(WireModel):
    """The ``shell`` tool; leave ``environment`` out (or ``{"type": "local"}``) to run it here."""

    type: Literal["shell"] = "shell"
    environment: dict[str, Any] | None = None


class ApplyPatchToolParam(WireModel):
    """The ``apply_patch`` tool (no options)."""

    type: Literal["apply_patch"] = "apply_patch"


class LocalShellToolParam(WireModel):
    """The legacy ``local_shell`` tool (no options)."""

    type: Literal["local_shell"] = "local_shell"


class ComputerToolParam(WireModel):
    """The GA ``computer`` tool (no options)."""

    type: Literal["computer"] = "computer"


class ComputerUsePreviewToolParam(WireModel):
    """The ``computer_use_preview`` tool with its display size and environment."""

    type: Literal["computer_use_preview"] = "computer_use_preview"
    display_width: int | None = None
    display_height: int | None = None
    environment: str | None = None


class NamespaceToolParam(WireModel):
    """A named group of function/custom tools; their calls carry ``namespace``."""

    type: Literal["namespace"] = "namespace"
    name: str
    description: str | None = None
    tools: list[ToolParam] = Field(default_factory=list)


class ToolSearchToolParam(WireModel):
    """Hosted or client-run search over deferred tools."""

    type: Literal["tool_search"] = "tool_search"
    execution: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None


class McpToolParam(WireModel):
    """A remote MCP server (hosted; the server calls it)."""

    type: Literal["mcp"] = "mcp"
    server_label: str
    server_url: str | None = None
    connector_id: str | None = None
    allowed_tools: list[str] | dict[str, Any] | None = None
    require_approval: str | dict[str, Any] | None = None
    server_description: str | None = None


class WebSearchToolParam(WireModel):
    """Hosted web search, in any of its four spellings (``web_search``, ``..._preview``, ...)."""

    type: Literal[
        "web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"
    ] = "web_search"
    search_context_size: str | None = None
    user_location: dict[str, Any] | None = None
    filters: dict[str, Any] | None = None


class FileSearchToolParam(WireModel):
    """Hosted search over vector stores."""

    type: Literal["file_search"] = "file_search"
    vector_store_ids: list[str] = Field(default_factory=list)
    max_num_results: int | None = None
    filters: dict[str, Any] | None = None
    ranking_options: dict[str, Any] | None = None


class CodeInterpreterToolParam(WireModel):
    """Hosted Python in an OpenAI container."""

    type: Literal["code_interpreter"] = "code_interpreter"
    container: str | dict[str, Any] | None = None


class ImageGenerationToolParam(WireModel):
    """Hosted image generation (options kept as extra fields)."""

    type: Literal["image_generation"] = "image_generation"


class UnknownToolParam(UnknownWireModel):
    """A tool type this version does not know; kept and sent back unchanged."""


_TOOL_TAGS = {
    "function": "function",
    "custom": "custom",
    "shell": "shell",
    "apply_patch": "apply_patch",
    "local_shell": "local_shell",
    "computer": "computer",
    "computer_use_preview": "computer_use_preview",
    "namespace": "namespace",
    "tool_search": "tool_search",
    "mcp": "mcp",
    "web_search": "web_search",
    "web_search_2025_08_26": "web_search",
    "web_search_preview": "web_search",
    "web_search_preview_2025_03_11": "web_search",
    "file_search": "file_search",
    "code_interpreter": "code_interpreter",
    "image_generation": "image_generation",
}


def _tool_tag(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type")
    elif getattr(value, "_is_unknown", False):
        return "unknown"
    else:
        kind = getattr(value, "type", None)
    return _TOOL_TAGS.get(kind, "unknown") if isinstance(kind, str) else "unknown"


ToolParam = Annotated[
    Annotated[FunctionToolParam, Tag("function")]
    | Annotated[CustomToolParam, Tag("custom")]
    | Annotated[ShellToolParam, Tag("shell")]
    | Annotated[ApplyPatchToolParam, Tag("apply_patch")]
    | Annotated[LocalShellToolParam, Tag("local_shell")]
    | Annotated[ComputerToolParam, Tag("computer")]
    | Annotated[ComputerUsePreviewToolParam, Tag("computer_use_preview")]
    | Annotated[NamespaceToolParam, Tag("namespace")]
    | Annotated[ToolSearchToolParam, Tag("tool_search")]
    | Annotated[McpToolParam, Tag("mcp")]
    | Annotated[WebSearchToolParam, Tag("web_search")]
    | Annotated[FileSearchToolParam, Tag("file_search")]
    | Annotated[CodeInterpreterToolParam, Tag("code_interpreter")]
    | Annotated[ImageGenerationToolParam, Tag("image_generation")]
    | Annotated[UnknownToolParam, Tag("unknown")],
    Discriminator(_tool_tag),
]
"""Any tool definition, discriminated on ``type``."""

NamespaceToolParam.model_rebuild()

_TOOL_ADAPTER: TypeAdapter[ToolParam] = TypeAdapter(ToolParam)


def parse_tool(data: Any) -> ToolParam:
    """Validate one tool definition from wire data (raises pydantic ``ValidationError``)."""
    return _TOOL_ADAPTER.validate_python(data, context=WIRE_CONTEXT)
