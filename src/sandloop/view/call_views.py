"""Each tool call as markup, drawn for its kind.

Part of ``view``, used by :mod:`.run_page`. A shell call shows its commands, each with its
stdout, stderr and exit status; an apply_patch call its operation as a coloured diff; a
function or custom tool call its arguments (JSON pretty-printed) and output; a computer call its
actions and the screenshot that followed, with the pointer's positions marked on it. A call that
failed or was denied stands out, with the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from sandloop.view.markup import attr, collapsible, diff_block, esc
from sandloop.view.records import CallView

__all__ = ("render_call",)

#: A screenshot is shown only as one of these data URLs (nothing else goes into ``src``).
_IMAGE_URL = re.compile(r"data:image/(png|jpeg|webp|gif);base64,([A-Za-z0-9+/]*={0,2})", re.ASCII)
_POINTER_ACTIONS = ("click", "double_click", "move", "scroll", "drag", "triple_click")


def render_call(call: CallView) -> str:
    """One call, its arguments and its output."""
    draw = _DRAWERS.get(call.kind, _generic)
    css = "call"
    if call.status == "denied":
        css += " denied"
    elif call.failed:
        css += " bad"
    head = f'<div class="head">{esc(_title(call))} {_meta(call)}</div>'
    problem = ""
    if call.error and call.failed:
        problem = f'<div class="problem">{esc(call.error)}</div>'
    elif call.output is None:
        problem = '<div class="problem">no output recorded for this call</div>'
    return (
        f"<div class={attr(css)} data-call-id={attr(call.call_id)} data-kind={attr(call.kind)}>"
        f"{head}{problem}{draw(call)}</div>"
    )


def _title(call: CallView) -> str:
    name = call.item.get("name")
    family = call.kind.removesuffix("_call").replace("_", " ")
    return f"{family} {name}" if isinstance(name, str) else family


def _meta(call: CallView) -> str:
    parts = []
    if call.status is not None:
        parts.append(call.status.replace("_", " "))
    if call.duration is not None:
        parts.append(f"{call.duration:.2f} s")
    parts.append(call.call_id)
    return f'<span class="meta">· {esc(" · ".join(parts))}</span>'


def _shell(call: CallView) -> str:
    action = _dict(call.item.get("action"))
    commands = [c for c in _list(action.get("commands")) if isinstance(c, str)]
    results = [_dict(r) for r in _list(_dict(call.output).get("output"))]
    parts = []
    for index, command in enumerate(commands):
        parts.append(f'<code class="cmd">$ {esc(command)}</code>')
        if index < len(results):
            parts.append(_streams(results[index]))
    return "".join(parts)


def _streams(result: dict[str, Any]) -> str:
    outcome = _dict(result.get("outcome"))
    code = outcome.get("exit_code", result.get("exit_code"))
    if outcome.get("type") == "timeout" or result.get("timed_out") is True:
        exit_text, css = "timed out", "bad"
    elif isinstance(code, int):
        exit_text, css = f"exit {code}", "ok" if code == 0 else "bad"
    else:
        exit_text, css = "no exit status", "warn"
    out = [f'<span class="exit badge {css}">{esc(exit_text)}</span>']
    for name, css_block in (("stdout", "out"), ("stderr", "err")):
        text = result.get(name)
        if isinstance(text, str) and text:
            out.append(collapsible(name, text, css=css_block))
    return "".join(out)


def _local_shell(call: CallView) -> str:
    action = _dict(call.item.get("action"))
    argv = [a for a in _list(action.get("command")) if isinstance(a, str)]
    parts = [f'<code class="cmd">$ {esc(" ".join(_quote(a) for a in argv))}</code>']
    output = _dict(call.output).get("output")
    parsed = _json(output) if isinstance(output, str) else None
    if isinstance(parsed, dict):
        parts.append(_streams(parsed))
    elif isinstance(output, str):
        parts.append(collapsible("output", output))
    return "".join(parts)


def _quote(arg: str) -> str:
    return (
        arg
        if arg and re.fullmatch(r"[\w@%+=:,./-]+", arg)
        else "'" + arg.replace("'", "'\\''") + "'"
    )


def _apply_patch(call: CallView) -> str:
    operation = _dict(call.item.get("operation"))
    kind = str(operation.get("type", "?")).replace("_", " ")
    path = operation.get("path")
    parts = [f'<code class="cmd">{esc(kind)} {esc(path if isinstance(path, str) else "?")}</code>']
    diff = operation.get("diff")
    if isinstance(diff, str) and diff:
        parts.append(diff_block("patch", diff))
    output = _dict(call.output)
    text = output.get("output")
    if isinstance(text, str) and text:
        css = "err" if output.get("status") == "failed" else "out"
        parts.append(collapsible(f"result: {output.get('status', '?')}", text, css=css))
    return "".join(parts)


def _function(call: CallView) -> str:
    arguments = call.item.get("arguments", call.item.get("input"))
    label = "arguments" if "arguments" in call.item else "input"
    parts = [collapsible(label, _pretty(arguments))]
    if call.output is not None:
        parts.append(collapsible("output", _pretty(_output_text(call.output.get("output")))))
    return "".join(parts)


def _output_text(value: Any) -> Any:
    """A function output: a string, or a list of content parts (their text joined)."""
    if isinstance(value, list):
        texts = [p.get("text") for p in value if isinstance(p, dict)]
        if texts and all(isinstance(t, str) for t in texts):
            return "".join(t for t in texts if isinstance(t, str))
    return value


def _computer(call: CallView) -> str:
    actions = [_dict(a) for a in _list(call.item.get("actions"))]
    if not actions and isinstance(call.item.get("action"), dict):
        actions = [call.item["action"]]
    listed = "".join(f"<li>{esc(_describe(a))}</li>" for a in actions)
    parts = [f'<ol class="actions">{listed}</ol>']
    checks = _list(call.item.get("pending_safety_checks"))
    if checks:
        parts.append(collapsible("pending safety checks", _pretty(checks), css="err"))
    output = _dict(_dict(call.output).get("output"))
    url = output.get("image_url")
    if isinstance(url, str):
        parts.append(_screenshot(url, actions))
    elif call.output is not None:
        parts.append(collapsible("output", _pretty(call.output.get("output"))))
    return "".join(parts)


def _describe(action: dict[str, Any]) -> str:
    kind = str(action.get("type", "?"))
    details = {k: v for k, v in action.items() if k != "type"}
    if not details:
        return kind
    return f"{kind} " + " ".join(
        f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in details.items()
    )


def _screenshot(url: str, actions: list[dict[str, Any]]) -> str:
    """The screenshot at its own size (scaled down to the page), the pointer marked on it."""
    match = _IMAGE_URL.fullmatch(url)
    if match is None:
        return '<div class="problem">the screenshot is not an image data URL: not shown</div>'
    size = _image_size(match.group(2))
    if size is None:
        return f'<div class="shot"><img alt="screenshot" src={attr(url)} loading="lazy"></div>'
    width, height = size
    marks = "".join(_marks(a) for a in actions)
    return (
        f'<div class="shot" style="width:{width}px"><img alt="screenshot" width="{width}" '
        f'height="{height}" src={attr(url)} loading="lazy" decoding="async">'
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none">{marks}</svg></div>'
    )


def _marks(action: dict[str, Any]) -> str:
    kind = action.get("type")
    if kind == "drag":
        points = [p for p in map(_xy, _list(action.get("path"))) if p is not None]
        if not points:
            return ""
        coords = " ".join(f"{x:g},{y:g}" for x, y in points)
        start, end = points[0], points[-1]
        return (
            f'<polyline class="mark" points="{coords}" fill="none" stroke="#e5007a" '
            f'stroke-width="4"/>{_dot(start)}{_dot(end, ring=True)}'
        )
    if kind in _POINTER_ACTIONS:
        point = _xy(action)
        return _dot(point, ring=True) if point is not None else ""
    return ""


def _dot(point: tuple[float, float], *, ring: bool = False) -> str:
    x, y = point
    circle = f'<circle class="mark" cx="{x:g}" cy="{y:g}" r="6" fill="#e5007a"/>'
    if ring:
        circle += (
            f'<circle cx="{x:g}" cy="{y:g}" r="18" fill="none" stroke="#e5007a" stroke-width="3"/>'
        )
    return circle


def _xy(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, dict):
        return None
    x, y = value.get("x"), value.get("y")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y)):
        return float(x), float(y)  # type: ignore[arg-type]
    return None


def _image_size(data: str) -> tuple[int, int] | None:
    """A PNG's width and height, read from its header (``None`` for other images)."""
    try:
        head = base64.b64decode(data[:48] + "=" * (-len(data[:48]) % 4))
    except (binascii.Error, ValueError):
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return (width, height) if 0 < width <= 20000 and 0 < height <= 20000 else None


def _generic(call: CallView) -> str:
    item = {k: v for k, v in call.item.items() if k not in ("type", "call_id", "id", "status")}
    parts = [collapsible("call", _pretty(item))]
    if call.output is not None:
        parts.append(collapsible("output", _pretty(call.output.get("output", call.output))))
    return "".join(parts)


def _pretty(value: Any) -> str:
    """JSON (or a string holding JSON) indented; other text as it is."""
    if isinstance(value, str):
        parsed = _json(value)
        if parsed is None or isinstance(parsed, str | int | float | bool):
            return value
        value = parsed
    return json.dumps(value, indent=2, ensure_ascii=False)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


_DRAWERS = {
    "shell_call": _shell,
    "local_shell_call": _local_shell,
    "apply_patch_call": _apply_patch,
    "function_call": _function,
    "custom_tool_call": _function,
    "computer_call": _computer,
}
