"""A run's page: the task and settings, a timeline of turns, the final answer, the changes.

Part of ``view``: :func:`run_page` formats a :class:`~sandloop.view.records.RunView` (read by
:mod:`.run_source`) into one self-contained HTML page.
"""

from __future__ import annotations

import json
from typing import Any

from sandloop.view.call_views import render_call
from sandloop.view.markup import attr, collapsible, diff_block, esc, page, plural
from sandloop.view.records import RunView, TurnView
from sandloop.view.run_builder import text_of

__all__ = ("money", "run_page", "seconds", "status_badge")

_GOOD = ("completed", "solved", "recorded", "finished")
_BAD = ("failed", "error", "unsolved", "timeout", "sandbox_error", "incomplete", "cancelled")


def run_page(view: RunView, *, back: str | None = None) -> str:
    """The whole page of ``view``; ``back`` links to the batch page it belongs to."""
    title = f"sandloop run {view.run_id or view.source.name}"
    parts = [f"<p><a href={attr(back)}>← the batch</a></p>" if back else ""]
    parts.append(f"<h1>{esc(title)} {status_badge(_status(view))}</h1>")
    parts.append(_facts(view))
    parts.append(_strip(view))
    parts.append(f'<h2 id="timeline">Timeline · {plural(len(view.turns), "turn")}</h2>')
    parts.extend(_turn(turn) for turn in view.turns)
    parts.append(_ending(view))
    parts.append(_changes(view))
    for name, text in view.extra:
        parts.append(f"<h2>{esc(name)}</h2>{collapsible(name, text)}")
    return page(title, "\n".join(parts), live=view.live)


def _status(view: RunView) -> str:
    if view.live:
        return "running"
    return view.status or "unknown"


def status_badge(status: str) -> str:
    """A coloured label for a run's or task's status."""
    css = "ok" if status in _GOOD else "bad" if status in _BAD else "warn"
    return f'<span class="badge {css}" data-status={attr(status)}>{esc(status)}</span>'


def money(usd: float | None) -> str:
    """``$0.0123``, or ``unpriced`` when unknown."""
    return "unpriced" if usd is None else f"${usd:.4f}"


def seconds(value: float | None) -> str:
    """``2.31 s``, ``3 min 4 s``; ``-`` when unknown."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} min {rest} s"


def _facts(view: RunView) -> str:
    rows: list[tuple[str, str]] = [("task", view.task or "(none recorded)")]
    rows.append(("model", view.model or "?"))
    calls = view.calls
    failed = sum(call.failed for call in calls)
    rows.append(("turns", f"{len(view.turns):,} · {plural(len(calls), 'tool call')}"))
    if failed:
        rows.append(("failed calls", f"{failed:,}"))
    rows.append(("tokens", _tokens(view.turns)))
    rows.append(("cost", money(view.cost) if view.turns else "-"))
    if view.wall_time is not None:
        rows.append(("time", seconds(view.wall_time)))
    rows.extend(view.settings)
    if view.tools:
        rows.append(("tools", ", ".join(view.tools)))
    rows.append(("record", f"{view.kind}: {view.source}"))
    cells = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    instructions = ""
    if view.instructions:
        instructions = collapsible("instructions", view.instructions)
    return f'<dl class="facts">{cells}</dl>{instructions}'


def _tokens(turns: list[TurnView]) -> str:
    given = sum(_count(t.usage, "input_tokens") for t in turns)
    made = sum(_count(t.usage, "output_tokens") for t in turns)
    total = sum(t.tokens for t in turns)
    return f"{total:,} ({given:,} input, {made:,} output)"


def _count(usage: dict[str, Any] | None, key: str) -> int:
    value = (usage or {}).get(key)
    return value if isinstance(value, int) else 0


def _strip(view: RunView) -> str:
    """One bar per turn, as tall as its share of the longest turn, linking to the turn."""
    if not view.turns:
        return ""
    sizes = [t.duration if t.duration is not None else float(t.tokens) for t in view.turns]
    top = max(sizes) or 1.0
    bars = []
    for turn, size in zip(view.turns, sizes, strict=True):
        css = ' class="bad"' if _bad(turn) else ""
        height = max(8, round(100 * size / top))
        tip = f"turn {turn.number}: {seconds(turn.duration)}, {turn.tokens:,} tokens"
        bars.append(
            f'<a{css} href="#turn-{turn.number}" title={attr(tip)} style="height:{height}%"></a>'
        )
    return f'<div class="strip" aria-label="turns">{"".join(bars)}</div>'


def _bad(turn: TurnView) -> bool:
    return (
        turn.error is not None
        or turn.status not in (None, "completed")
        or any(call.failed for call in turn.calls.values())
    )


def _turn(turn: TurnView) -> str:
    head = [] if turn.duration is None else [esc(seconds(turn.duration))]
    head.append(f"{turn.tokens:,} tokens")
    if turn.cost is not None:
        head.append(money(turn.cost))
    if turn.model:
        head.append(esc(turn.model))
    if turn.status not in (None, "completed"):
        head.append(status_badge(str(turn.status)))
    body = []
    if turn.error:
        body.append(f'<div class="failure">{esc(turn.error)}</div>')
    for item in turn.items:
        body.append(_item(turn, item))
    css = "turn bad" if _bad(turn) else "turn"
    return (
        f'<section class="{css}" id="turn-{turn.number}"><header><b>Turn {turn.number}</b>'
        f"<span>{' · '.join(head)}</span></header>"
        f"{''.join(body)}</section>"
    )


def _item(turn: TurnView, item: dict[str, Any]) -> str:
    kind = item.get("type")
    call_id = item.get("call_id")
    if isinstance(call_id, str) and call_id in turn.calls:
        return render_call(turn.calls[call_id])
    if kind == "message":
        role = item.get("role") if isinstance(item.get("role"), str) else "assistant"
        phase = item.get("phase")
        label = f'<span class="badge">{esc(phase)}</span> ' if isinstance(phase, str) else ""
        return f'<div class="msg {esc(role)}">{label}{esc(text_of(item.get("content")))}</div>'
    if kind == "reasoning":
        summary = "\n".join(
            p["text"] for p in _parts(item.get("summary")) if isinstance(p.get("text"), str)
        )
        return f'<div class="reasoning">{esc(summary)}</div>' if summary else ""
    shown = {k: v for k, v in item.items() if k not in ("encrypted_content",)}
    return collapsible(str(kind), json.dumps(shown, indent=2, ensure_ascii=False))


def _parts(value: Any) -> list[dict[str, Any]]:
    return [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []


def _ending(view: RunView) -> str:
    parts = ['<h2 id="final">Final answer</h2>']
    if view.final_output:
        parts.append(f'<div class="final">{esc(view.final_output)}</div>')
    else:
        parts.append('<p class="muted">No final answer.</p>')
    if view.error:
        parts.append(f'<div class="failure"><b>Error:</b> {esc(view.error)}</div>')
    return "".join(parts)


def _changes(view: RunView) -> str:
    if view.diff is None:
        return '<h2 id="changes">Changes</h2><p class="muted">No diff recorded for this run.</p>'
    if not view.diff.strip():
        return '<h2 id="changes">Changes</h2><p class="muted">The run changed no file.</p>'
    files = view.diff.count("\n+++ ") + view.diff.startswith("+++ ")
    label = f"the whole run's changes · {plural(files, 'file')}"
    return f'<h2 id="changes">Changes</h2>{diff_block(label, view.diff, open_=True)}'
