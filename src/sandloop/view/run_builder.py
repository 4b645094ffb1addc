"""Building a :class:`~sandloop.view.records.RunView` from the fields of hostile records.

Part of ``view``, below :mod:`.run_source` (which knows the record formats): a
:class:`RunBuilder` files each response's items and calls under its turn and each output under
its call; the readers here take the agent's description from a journal header or a request body.
Every field is checked for its type before use: the records hold what the model and the server
wrote.
"""

from __future__ import annotations

import json
from typing import Any

from sandloop.view.records import CallView, RunView, TurnView

__all__ = (
    "RunBuilder",
    "as_dict",
    "as_list",
    "as_num",
    "as_str",
    "describe_agent",
    "first_user_text",
    "is_dict",
    "request_settings",
    "text_of",
)


class RunBuilder:
    """A :class:`RunView` built up from records: turns, their calls, the calls' outputs."""

    def __init__(self, view: RunView) -> None:
        self.view = view
        self.by_turn: dict[int, TurnView] = {}
        self.by_call: dict[str, CallView] = {}

    def turn(self, number: Any) -> TurnView:
        """Turn ``number`` (made when new; a number that is no int makes the next turn)."""
        key = number if isinstance(number, int) else len(self.by_turn) + 1
        turn = self.by_turn.get(key)
        if turn is None:
            turn = self.by_turn[key] = TurnView(key)
            self.view.turns.append(turn)
        return turn

    def response(self, number: Any, response: Any) -> TurnView:
        """File a response (wire dict) as turn ``number``: its items, calls, usage and cost."""
        turn = self.turn(number)
        if not isinstance(response, dict):
            return turn
        turn.items = [i for i in as_list(response.get("output")) if isinstance(i, dict)]
        turn.model = as_str(response.get("model")) or self.view.model
        turn.status = as_str(response.get("status"))
        usage = response.get("usage")
        turn.usage = usage if isinstance(usage, dict) else None
        turn.cost = _cost(turn.model, turn.usage)
        error = response.get("error")
        if isinstance(error, dict):
            turn.error = as_str(error.get("message")) or json.dumps(error)[:500]
        for item in turn.items:
            call_id = item.get("call_id")
            if isinstance(call_id, str) and str(item.get("type", "")).endswith("_call"):
                turn.calls[call_id] = self.by_call[call_id] = CallView(call_id, item)
        return turn

    def output(self, item: Any, **facts: Any) -> CallView | None:
        """File an output item under its call, with ``facts`` the record adds (``status``,
        ``error``, ``duration``); returns the call, ``None`` when it answers no known call."""
        if not isinstance(item, dict) or not isinstance(item.get("call_id"), str):
            return None
        call = self.by_call.get(item["call_id"])
        if call is not None:
            call.output = item
            for name, value in facts.items():
                if value is not None:
                    setattr(call, name, value)
        return call


def describe_agent(view: RunView, header: dict[str, Any] | None) -> None:
    """The run's description from a journal header: the agent, its tools and sandbox."""
    if not header or header.get("kind") != "header":
        return
    view.run_id = view.run_id or as_str(header.get("run_id"))
    view.task = view.task or first_user_text(as_list(header.get("input")))
    run = as_dict(header.get("run"))
    agent = as_dict(run.get("agent"))
    view.model = view.model or as_str(agent.get("model"))
    view.instructions = view.instructions or as_str(agent.get("instructions"))
    if not view.tools:
        view.tools = [
            as_str(t.get("tool")) or "?" for t in as_list(agent.get("tools")) if is_dict(t)
        ]
    for key in ("max_turns", "timeout", "token_budget", "cost_budget", "approval_policy"):
        if agent.get(key) is not None and not any(k == key for k, _ in view.settings):
            view.settings.append((key.replace("_", " "), str(agent[key])))
    sandbox = run.get("sandbox")
    if isinstance(sandbox, dict) and not any(k == "sandbox" for k, _ in view.settings):
        view.settings.append(("sandbox", " ".join(_sandbox_words(sandbox))))


def _sandbox_words(sandbox: dict[str, Any]) -> list[str]:
    words = [str(sandbox.get("kind") or "sandbox")]
    for key in ("image", "root", "workspace", "mount", "network"):
        if sandbox.get(key) not in (None, "", {}):
            words.append(f"{key}={sandbox[key]}")
    return words


def request_settings(view: RunView, body: Any) -> None:
    if not isinstance(body, dict):
        return
    view.model = view.model or as_str(body.get("model"))
    view.instructions = view.instructions or as_str(body.get("instructions"))
    if not view.tools:
        view.tools = [_tool_name(t) for t in as_list(body.get("tools")) if is_dict(t)]
    if isinstance(body.get("reasoning"), dict):
        view.settings.append(("reasoning", json.dumps(body["reasoning"])))
    if body.get("store") is False:
        view.settings.append(("state", "stateless (store=false)"))


def _tool_name(tool: dict[str, Any]) -> str:
    kind = as_str(tool.get("type")) or "?"
    name = as_str(tool.get("name"))
    return f"{name} ({kind})" if name else kind


def first_user_text(items: list[Any]) -> str:
    """The text of the first user message among input ``items`` (the task)."""
    for item in items:
        if (
            is_dict(item)
            and item.get("type", "message") == "message"
            and item.get("role") == "user"
        ):
            return text_of(item.get("content"))
    return ""


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    parts = [p.get("text") for p in as_list(content) if is_dict(p)]
    return "".join(p for p in parts if isinstance(p, str))


def _cost(model: str | None, usage: dict[str, Any] | None) -> float | None:
    if model is None or usage is None:
        return None
    from pydantic import ValidationError

    from sandloop.items import Usage
    from sandloop.pricing import usage_cost

    try:
        return usage_cost(model, Usage.model_validate(usage))
    except (ValidationError, ValueError, TypeError):
        return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def is_dict(value: Any) -> bool:
    """Whether ``value`` is a dict."""
    return isinstance(value, dict)


def as_str(value: Any) -> str | None:
    """``value`` when it is a string, else ``None``."""
    return value if isinstance(value, str) else None


def as_num(value: Any) -> float | None:
    """``value`` as a float when it is a number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
