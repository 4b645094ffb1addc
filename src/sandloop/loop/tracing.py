"""OpenTelemetry tracing of a run, following the GenAI semantic conventions.

Part of ``loop``, and the only module that imports ``opentelemetry`` (the ``sandloop[otel]``
extra: ``opentelemetry-api`` only). It is imported on the first run, never by ``import
sandloop``; without it installed :func:`traced` hands the event sink back unchanged, so a run
pays nothing. Spans go to the global tracer provider (``opentelemetry.trace.get_tracer``): with
none configured, the API's no-op tracer is used and nothing is recorded or exported.

A :class:`RunTracer` consumes the run's events (:mod:`sandloop.loop.events`) before the sink
does, and makes:

- ``invoke_agent <agent name>`` (INTERNAL) for the run, the current span while it runs;
- ``chat <model>`` (CLIENT) per model call, retries included, its child;
- ``execute_tool <tool>`` (INTERNAL) per tool call, its child, the current span while the tool
  runs (so spans your tool makes nest under it).

A span that ends in an error gets status ERROR, ``error.type`` and the exception (a cancelled
run ends every open span so). Prompts, answers, tool arguments and results are recorded only
with ``Agent(trace_content=True)`` (:mod:`sandloop.loop._trace_content`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio

from sandloop.items import dump_item
from sandloop.loop import _trace_content as content
from sandloop.loop import events as ev
from sandloop.loop.agent import Agent

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from sandloop.loop.runner import EventSink
    from sandloop.sandboxes.base import Sandbox

__all__ = ("RunTracer", "finish_reason", "traced")

_PROVIDER = "openai"
#: Status of an incomplete response → the GenAI finish reason.
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
#: ``(opentelemetry.trace, opentelemetry.context)``, ``False`` when not installed, ``None``
#: before the first look.
_api: Any = None


def _opentelemetry() -> Any:
    global _api
    if _api is None:
        try:
            from opentelemetry import context, trace
        except ImportError:
            _api = False
        else:
            _api = (trace, context)
    return _api or None


def traced(
    emit: EventSink,
    agent: Agent,
    *,
    sandbox: Sandbox | None,
    base_url: str | None,
    request_input: Callable[[], list[dict[str, Any]]],
) -> EventSink:
    """``emit``, with a :class:`RunTracer` seeing every event first; ``emit`` itself when
    OpenTelemetry is not installed."""
    api = _opentelemetry()
    if api is None:
        return emit
    tracer = RunTracer(api, agent, sandbox=sandbox, base_url=base_url, request_input=request_input)

    async def both(event: ev.RunEvent) -> None:
        tracer.on(event)
        try:
            await emit(event)
        except BaseException as exc:
            if isinstance(event, ev.RunStarted):  # the run ends before it began: no RunEnded
                tracer.abandon(exc)
            raise

    return both


def finish_reason(status: str | None, reason: str | None, calls: int) -> str:
    """A response's GenAI finish reason: ``tool_calls``, ``stop``, ``length``,
    ``content_filter``, ``error``, or the status itself."""
    if status == "completed":
        return "tool_calls" if calls else "stop"
    if status == "incomplete":
        return _INCOMPLETE.get(reason or "", reason or "incomplete")
    return "error" if status in ("failed", "cancelled") else str(status)


class _Open:
    """An open span, the context it is current in (``ctx``: its parent's, baggage included)
    and the token that made it current in task ``task``."""

    __slots__ = ("ctx", "span", "task", "token")

    def __init__(self, span: Span, ctx: Any, token: Any, task: int) -> None:
        self.span, self.ctx, self.token, self.task = span, ctx, token, task


class RunTracer:
    """The spans of one run, driven by its events.

    Args:
        api: ``(opentelemetry.trace, opentelemetry.context)``.
        agent: The agent (its name, model, instructions and ``trace_content``).
        sandbox: The run's sandbox (its id goes on the tool spans).
        base_url: The API's base URL (``server.address`` / ``server.port``).
        request_input: The next request's input, for ``gen_ai.input.messages``.
    """

    def __init__(
        self,
        api: Any,
        agent: Agent,
        *,
        sandbox: Sandbox | None,
        base_url: str | None,
        request_input: Callable[[], list[dict[str, Any]]],
    ) -> None:
        from sandloop import __version__

        self._trace, self._context = api
        self._tracer = self._trace.get_tracer("sandloop", __version__)
        self._agent = agent
        self._sandbox = sandbox
        self._server = _server(base_url)
        self._request_input = request_input
        self._content = agent.trace_content
        self._output_type = "json" if agent.output_schema is not None else "text"
        self._run: _Open | None = None
        self._chat: _Open | None = None
        self._tools: dict[str, _Open] = {}

    def on(self, event: ev.RunEvent) -> None:
        """Start, annotate or end the spans ``event`` concerns."""
        handler = _HANDLERS.get(type(event))
        if handler is not None and (self._run is not None or type(event) is ev.RunStarted):
            handler(self, event)

    # --- the run ----------------------------------------------------------------------------

    def _run_started(self, event: ev.RunStarted) -> None:
        name = self._agent.name
        attrs = self._common("invoke_agent") | {
            "gen_ai.agent.name": name,
            "gen_ai.request.model": event.model,
            "gen_ai.conversation.id": event.run_id,
            "gen_ai.output.type": self._output_type,
            "sandloop.run.id": event.run_id,
            "sandloop.run.stateless": event.stateless,
            "sandloop.sandbox.type": type(self._sandbox).__name__ if self._sandbox else None,
        }
        span_name = f"invoke_agent {name}" if name else "invoke_agent"
        opened = self._open(span_name, self._trace.SpanKind.INTERNAL, attrs, parent=None)
        if not opened.span.get_span_context().is_valid:
            # No tracer provider configured: the API's no-op span. Stay out of the way for
            # the rest of the run (events are then ignored: ``on`` sees no run span).
            self._context.detach(opened.token)
            return
        self._run = opened
        self._record(self._run, "gen_ai.system_instructions", self._instructions)

    def _run_ended(self, event: ev.RunEnded) -> None:
        error = event.error
        if self._chat is not None:
            self._close(self._chat, error or "the run ended during the model call")
            self._chat = None
        for call_id in list(self._tools):
            self._close(self._tools.pop(call_id), error or "the run ended while the call ran")
        assert self._run is not None
        result, span = event.result, self._run.span
        span.set_attributes(
            _clean(
                {
                    "sandloop.run.status": result.status,
                    "sandloop.run.turns": result.turns,
                    "gen_ai.usage.input_tokens": result.usage.input_tokens,
                    "gen_ai.usage.output_tokens": result.usage.output_tokens,
                    "sandloop.sandbox.id": self._sandbox_id(),
                }
            )
        )
        if result.output_text:
            self._record(self._run, "gen_ai.output.messages", lambda: _answer(result.output_text))
        self._close(self._run, error)
        self._run = None

    def abandon(self, error: BaseException) -> None:
        """End the run's span with ``error``: the run stopped before its ``RunEnded``."""
        if self._run is not None:
            self._close(self._run, error)
            self._run = None

    def _compacted(self, event: ev.Compacted) -> None:
        assert self._run is not None
        attrs = {
            "sandloop.items.before": event.items_before,
            "sandloop.items.after": event.items_after,
        }
        self._run.span.add_event("sandloop.compacted", attrs)

    # --- model calls ------------------------------------------------------------------------

    def _turn_started(self, event: ev.TurnStarted) -> None:
        model = self._agent.model
        attrs = (
            self._common("chat")
            | self._server
            | {
                "gen_ai.request.model": model,
                "gen_ai.conversation.id": event.run_id,
                "gen_ai.output.type": self._output_type,
                "sandloop.turn": event.turn,
            }
        )
        kind = self._trace.SpanKind.CLIENT
        self._chat = self._open(f"chat {model}", kind, attrs, parent=self._run)
        asked = self._request_input
        self._record(self._chat, "gen_ai.input.messages", lambda: content.input_messages(asked()))
        self._record(self._chat, "gen_ai.system_instructions", self._instructions)

    def _response_created(self, event: ev.ResponseCreated) -> None:
        if self._chat is not None and event.response_id:
            self._chat.span.set_attribute("gen_ai.response.id", event.response_id)

    def _retrying(self, event: ev.ResponseRetrying) -> None:
        if self._chat is not None:
            attrs: dict[str, Any] = {
                "sandloop.retry.attempt": event.attempt,
                "sandloop.retry.delay_s": event.delay,
                "error.type": type(event.error).__name__,
                "sandloop.retry.cut": event.cut,
            }
            self._chat.span.add_event("sandloop.response.retry", attrs)

    def _turn_ended(self, event: ev.TurnEnded) -> None:
        if self._chat is None:
            return
        response, usage = event.response, event.response.usage
        details = usage.input_tokens_details if usage else None
        reasoning = usage.output_tokens_details if usage else None
        reason = response.incomplete_details.reason if response.incomplete_details else None
        finish = finish_reason(response.status, reason, event.pending_calls)
        span = self._chat.span
        attrs = {
            "gen_ai.response.id": response.id,
            "gen_ai.response.model": response.model,
            "gen_ai.response.finish_reasons": (finish,),
            "sandloop.response.status": response.status,
            "gen_ai.usage.input_tokens": usage.input_tokens if usage else None,
            "gen_ai.usage.output_tokens": usage.output_tokens if usage else None,
            "gen_ai.usage.cache_read.input_tokens": details.cached_tokens if details else None,
            "gen_ai.usage.cache_creation.input_tokens": details.cache_write_tokens
            if details
            else None,
            "gen_ai.usage.reasoning.output_tokens": reasoning.reasoning_tokens
            if reasoning
            else None,
            "openai.response.service_tier": getattr(response, "service_tier", None),
        }
        span.set_attributes(_clean(attrs))
        output = response.output
        self._record(
            self._chat,
            "gen_ai.output.messages",
            lambda: content.output_messages([dump_item(i) for i in output], finish),
        )
        self._close(self._chat, None)
        self._chat = None

    # --- tool calls -------------------------------------------------------------------------

    def _tool_started(self, event: ev.ToolCallStarted) -> None:
        description = _tool_description(self._agent.registry.lookup(event.call))
        attrs = self._common("execute_tool") | {
            "gen_ai.tool.name": event.tool,
            "gen_ai.tool.call.id": event.call_id,
            "gen_ai.tool.type": "function",  # run by the client, from the model's arguments
            "gen_ai.tool.description": description,
            "sandloop.tool.call_type": event.call.type,
            "sandloop.turn": event.turn,
            "sandloop.sandbox.type": type(self._sandbox).__name__ if self._sandbox else None,
            "sandloop.sandbox.id": self._sandbox_id(),
        }
        kind = self._trace.SpanKind.INTERNAL
        opened = self._open(f"execute_tool {event.tool}", kind, attrs, parent=self._run)
        self._tools[event.call_id] = opened
        call = event.call
        self._record(
            opened, "gen_ai.tool.call.arguments", lambda: content.arguments(dump_item(call))
        )

    def _tool_finished(self, event: ev.ToolCallFinished) -> None:
        opened = self._tools.pop(event.call_id, None)
        if opened is None:
            return
        span = opened.span
        span.set_attribute("sandloop.tool.status", event.status)
        span.set_attribute("sandloop.tool.duration_s", event.duration)
        output = event.output
        if event.status == "completed" and output is not None:
            self._record(
                opened, "gen_ai.tool.call.result", lambda: content.result(dump_item(output))
            )
        if event.status == "completed":
            self._close(opened, None)
            return
        span.set_attribute("error.type", event.status)
        self._close(opened, event.exception or event.error or event.status)

    # --- spans ------------------------------------------------------------------------------

    def _record(self, opened: _Open, key: str, make: Callable[[], Any]) -> None:
        """Set content attribute ``key`` to ``make()`` as JSON: only with ``trace_content``,
        and only when the span records (no work for a trace nobody collects)."""
        if self._content and opened.span.is_recording():
            value = make()
            if value is not None:
                opened.span.set_attribute(key, content.to_json(value))

    def _instructions(self) -> list[dict[str, Any]] | None:
        text = self._agent.instructions
        return None if text is None else [{"type": "text", "content": content.cut(text)}]

    def _common(self, operation: str) -> dict[str, Any]:
        return {"gen_ai.operation.name": operation, "gen_ai.provider.name": _PROVIDER}

    def _open(self, name: str, kind: Any, attrs: dict[str, Any], *, parent: _Open | None) -> _Open:
        """Start a span (a child of ``parent``, else of the current span) and make it the
        current one in this task."""
        base = parent.ctx if parent is not None else self._context.get_current()
        span = self._tracer.start_span(name, context=base, kind=kind, attributes=_clean(attrs))
        ctx = self._trace.set_span_in_context(span, base)
        return _Open(span, ctx, self._context.attach(ctx), _task())

    def _close(self, opened: _Open, error: BaseException | str | None) -> None:
        """End a span, ERROR when ``error`` is given; stop it being current where it was made
        current (a call the run's end settles from another task just ends)."""
        span = opened.span
        if error is not None:
            status = self._trace.Status(self._trace.StatusCode.ERROR, _describe(error))
            span.set_status(status)
            if isinstance(error, BaseException):
                span.set_attribute("error.type", _error_type(error))
                span.record_exception(error)
        if opened.task == _task():
            self._context.detach(opened.token)
        span.end()

    def _sandbox_id(self) -> str | None:
        value = getattr(self._sandbox, "container_id", None)
        return value if isinstance(value, str) else None


def _tool_description(tool: Any) -> str | None:
    definition = getattr(tool, "definition", None)
    text = definition().get("description") if callable(definition) else None
    return text if isinstance(text, str) else None


def _task() -> int:
    return anyio.get_current_task().id


def _describe(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error
    return str(error) or type(error).__name__


def _error_type(error: BaseException) -> str:
    """``error.type``: the exception's class (``CancelledError`` for a cancelled run)."""
    return type(error).__qualname__


def _answer(text: str | None) -> list[dict[str, Any]]:
    parts = [{"type": "text", "content": content.cut(text or "")}]
    return [{"role": "assistant", "parts": parts, "finish_reason": "stop"}]


def _server(base_url: str | None) -> dict[str, Any]:
    if not base_url:
        return {}
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname, "server.port": port}


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes without the ``None`` values (which OpenTelemetry refuses)."""
    return {k: v for k, v in attrs.items() if v is not None}


_HANDLERS: dict[type[ev.RunEvent], Callable[[RunTracer, Any], None]] = {
    ev.RunStarted: RunTracer._run_started,
    ev.RunEnded: RunTracer._run_ended,
    ev.Compacted: RunTracer._compacted,
    ev.TurnStarted: RunTracer._turn_started,
    ev.ResponseCreated: RunTracer._response_created,
    ev.ResponseRetrying: RunTracer._retrying,
    ev.TurnEnded: RunTracer._turn_ended,
    ev.ToolCallStarted: RunTracer._tool_started,
    ev.ToolCallFinished: RunTracer._tool_finished,
}
