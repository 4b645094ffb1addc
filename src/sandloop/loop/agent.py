"""Agent: the model, instructions, tools and limits of a run, as plain data.

Part of ``loop``. An agent holds no connection and no sandbox; :func:`sandloop.run` combines it
with those. Building one validates the tool set (duplicate names are a ``ConfigError`` here, not
mid-run) and caches the wire ``tools`` list. :meth:`Agent.to_dict` / :meth:`Agent.from_dict`
round-trip it through JSON, each tool described as ``{"tool": kind, "options": {...}}``
(:mod:`sandloop.executors.descriptions`), so another process can rebuild it (DESIGN §7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from sandloop._import_path import import_path_of, resolve_import_path
from sandloop.dispatch import ApprovalPolicy, ToolRegistry
from sandloop.dispatch.dispatcher import DEFAULT_MAX_CALLS
from sandloop.errors import ConfigError
from sandloop.executors import DEFAULT_MAX_TOOL_OUTPUT
from sandloop.executors.descriptions import describe_tool, tool_from_dict
from sandloop.loop.output_type import OutputSchema

__all__ = ("Agent",)


@dataclass(frozen=True, slots=True)
class Agent:
    """What to run: model, instructions, tools, state mode and limits.

    Attributes:
        model: The model name (``"gpt-5.1"``).
        instructions: The system/developer instructions, resent every turn.
        tools: ``@sandloop.tool`` functions, tool objects (``ShellTool()``, ``CustomTool(...)``),
            MCP servers (``MCPServer.stdio(...)``, ``MCPServer.http(...)``: connected for each
            run, their tools offered as ``<server>__<tool>``) and hosted tool definitions as
            dicts (``{"type": "web_search"}``).
        max_turns: Model calls allowed before ``MaxTurnsExceeded``.
        timeout: Wall-clock seconds for the whole run, or ``None``.
        token_budget: Total tokens (summed usage) the run may use before
            ``TokenBudgetExceeded``, or ``None``.
        cost_budget: Dollars the run may cost (:mod:`sandloop.pricing`) before
            ``CostBudgetExceeded``, or ``None``. A model the price table does not have cannot
            be kept to a budget: the run is refused at the start (the agent's model) or stopped
            (a response's model).
        store: ``True`` chains turns with ``previous_response_id``; ``False`` is stateless: the
            whole history is resent each turn, with encrypted reasoning.
        background: Create responses with ``background=True`` and poll them.
        reasoning: The request's ``reasoning`` object (``{"effort": "low"}``).
        max_concurrency: Calls of one response that run at once.
        approval_policy: Which calls need the approval callback: ``"tools"`` (tools marked
            ``needs_approval``), ``"all"`` or ``"never"``.
        compact_threshold: Compact the history once a response's input plus output tokens
            (about the size of the next request) reach this. With ``compaction="server"`` it
            is sent as the API's ``compact_threshold`` (raised to the API's minimum, 1000).
        compaction: ``"client"`` calls ``POST /responses/compact``; ``"server"`` asks the API
            with ``context_management`` instead.
        namespaces: Descriptions of the namespaces tools are grouped in.
        request_options: Other request fields sent as given (``temperature``, ``text``, ...).
        max_calls_per_response: Calls of one response that run; the rest are answered "too many
            calls in one response" without running.
        max_tool_output_per_response: Characters of tool output all the calls of one response
            may keep together; commands past it are cut or not run, saying so.
        name: The agent's name, for tracing (the ``invoke_agent <name>`` span).
        output_type: A pydantic model, dataclass or TypedDict: the request asks for JSON of
            its strict schema (``text.format``) and ``result.final_output`` is an instance
            (``result.output_text`` keeps the text). An answer that does not validate raises
            ``OutputValidationError``.
        output_retries: Answers that do not validate which are sent back to the model, with
            what was wrong, before ``OutputValidationError``; each retry is a model call.
        trace_content: Record prompts, answers and tool arguments and results on the
            OpenTelemetry spans (:mod:`sandloop.loop.tracing`); off by default.
    """

    model: str
    instructions: str | None = None
    tools: Sequence[Any] = ()
    max_turns: int = 100
    timeout: float | None = None
    token_budget: int | None = None
    cost_budget: float | None = None
    store: bool = True
    background: bool = False
    reasoning: Mapping[str, Any] | None = None
    max_concurrency: int = 8
    approval_policy: ApprovalPolicy = "tools"
    compact_threshold: int | None = None
    compaction: Literal["client", "server"] = "client"
    namespaces: Mapping[str, str] = field(default_factory=dict)
    request_options: Mapping[str, Any] = field(default_factory=dict)
    max_calls_per_response: int = DEFAULT_MAX_CALLS
    max_tool_output_per_response: int = DEFAULT_MAX_TOOL_OUTPUT
    name: str | None = None
    output_type: Any = None
    output_retries: int = 0
    trace_content: bool = False
    registry: ToolRegistry = field(init=False, repr=False, compare=False)
    output_schema: OutputSchema | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tools", tuple(self.tools))
        if not self.model:
            raise ConfigError("Agent needs a model name")
        if self.max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1, not {self.max_turns}")
        if self.background and not self.store:
            raise ConfigError("background=True needs store=True: the server must keep it")
        if self.compaction not in ("client", "server"):
            raise ConfigError(f"compaction must be 'client' or 'server', not {self.compaction!r}")
        if self.max_calls_per_response < 1:
            raise ConfigError("max_calls_per_response must be at least 1")
        if self.max_tool_output_per_response < 0:
            raise ConfigError("max_tool_output_per_response must not be negative")
        if self.cost_budget is not None and not self.cost_budget >= 0:
            raise ConfigError(
                f"cost_budget must be a number of dollars >= 0, not {self.cost_budget}"
            )
        if self.compact_threshold is not None and self.compact_threshold < 1:
            raise ConfigError("compact_threshold must be a positive token count")
        registry = ToolRegistry(self.tools, namespaces=self.namespaces)
        object.__setattr__(self, "registry", registry)
        object.__setattr__(self, "output_schema", _output_schema(self))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description; each tool as ``{"tool": kind, "options": {...}}`` (a
        function or custom tool names its function by import path), a hosted tool as its
        definition dict.

        Raises:
            ConfigError: a tool cannot be described (a closure, a lambda, a function of
                ``__main__``, a ``ComputerTool`` over your own ``Computer``); the message
                names it.
        """
        return {
            "model": self.model,
            "instructions": self.instructions,
            "tools": [describe_tool(t) for t in self.tools],
            "max_turns": self.max_turns,
            "timeout": self.timeout,
            "token_budget": self.token_budget,
            "cost_budget": self.cost_budget,
            "store": self.store,
            "background": self.background,
            "reasoning": dict(self.reasoning) if self.reasoning is not None else None,
            "max_concurrency": self.max_concurrency,
            "approval_policy": self.approval_policy,
            "compact_threshold": self.compact_threshold,
            "compaction": self.compaction,
            "namespaces": dict(self.namespaces),
            "request_options": dict(self.request_options),
            "max_calls_per_response": self.max_calls_per_response,
            "max_tool_output_per_response": self.max_tool_output_per_response,
            "name": self.name,
            "output_type": _describe_output_type(self.output_type),
            "output_retries": self.output_retries,
            "trace_content": self.trace_content,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agent:
        """Rebuild an agent from :meth:`to_dict` output, importing its tools.

        Raises:
            ConfigError: a field is unknown or ``model`` is missing, or a tool description is
                malformed or names a function or class that cannot be imported.
        """
        values = dict(data)
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown Agent field(s): {', '.join(unknown)}")
        if "model" not in values:
            raise ConfigError("an agent description needs 'model'")
        tools = values.get("tools") or []
        if not isinstance(tools, list):
            raise ConfigError(f"an agent description's 'tools' is a list, not {tools!r}")
        values["tools"] = [tool_from_dict(t) for t in tools]
        if isinstance(values.get("output_type"), str):
            values["output_type"] = resolve_import_path(values["output_type"], what="output_type")
        try:
            return cls(**values)
        except (TypeError, ValueError, AttributeError) as exc:  # a wrongly typed value
            raise ConfigError(f"bad Agent field value: {exc}") from exc


def _output_schema(agent: Agent) -> OutputSchema | None:
    if agent.output_retries < 0:
        raise ConfigError(f"output_retries must not be negative, not {agent.output_retries}")
    if agent.output_type is None:
        if agent.output_retries:
            raise ConfigError("output_retries needs an output_type to check answers against")
        return None
    return OutputSchema.of(agent.output_type)


def _describe_output_type(output_type: Any) -> str | None:
    """The output type's import path (``module:qualname``), checked to import back."""
    if output_type is None:
        return None
    return import_path_of(output_type, what=f"output_type {getattr(output_type, '__name__', '')}")
