"""A batch's page: the totals, charts of task durations and cost, a sortable task table.

Part of ``view``: :func:`batch_page` formats a :class:`~sandloop.view.records.BatchView`. Each
row links to its task's run page, written next to the batch page by :mod:`.output`; the table
sorts by any column and filters by text and status (the shared page script).
"""

from __future__ import annotations

from collections import Counter

from sandloop.view.markup import attr, esc, page, plural
from sandloop.view.records import BatchView, TaskRow
from sandloop.view.run_page import money, seconds, status_badge

__all__ = ("batch_page",)

_COLUMNS = (
    ("task", "s"),
    ("status", "s"),
    ("solved", "s"),
    ("turns", "n"),
    ("tokens", "n"),
    ("cost", "n"),
    ("time", "n"),
    ("reason", "s"),
)
_BAR_COLOURS = {"solved": "#2da44e", "unsolved": "#d4a72c", "running": "#8cb4e8"}


def batch_page(view: BatchView) -> str:
    """The whole page of ``view``."""
    title = f"sandloop batch {view.source.name}"
    state = status_badge("running" if view.live else "finished")
    parts = [f"<h1>{esc(title)} {state}</h1>", _totals(view)]
    parts.append('<div class="charts">')
    parts.append(_chart("task time (s), longest first", view.rows, "time"))
    parts.append(_chart("task cost ($), highest first", view.rows, "cost"))
    parts.append("</div>")
    parts.append(_table(view.rows))
    return page(title, "\n".join(parts), live=view.live)


def _totals(view: BatchView) -> str:
    rows = view.rows
    counts = Counter(r.status for r in rows)
    costs = [r.cost for r in rows if r.status not in ("running", "started", "pending")]
    cost = None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)
    facts = [
        ("tasks", f"{len(rows):,}"),
        ("solved", f"{counts.get('solved', 0):,} of {len(rows):,}"),
        ("statuses", ", ".join(f"{s} {n:,}" for s, n in sorted(counts.items()))),
        ("turns", f"{sum(r.turns for r in rows):,}"),
        ("tokens", f"{sum(r.tokens for r in rows):,}"),
        ("cost", money(cost)),
        ("task time", seconds(sum(r.wall_time or 0.0 for r in rows))),
        ("directory", str(view.source)),
    ]
    cells = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    return f'<dl class="facts">{cells}</dl>'


def _chart(title: str, rows: list[TaskRow], what: str) -> str:
    """Bars of every task's time or cost, largest first, as inline SVG."""
    values = [(r.wall_time if what == "time" else r.cost, r) for r in rows]
    known = sorted(((v, r) for v, r in values if v is not None), key=lambda p: -p[0])
    width, height = 520, 120
    if not known:
        return f'<div class="chart"><h3>{esc(title)}</h3><p class="muted">nothing yet</p></div>'
    top = known[0][0] or 1.0
    step = width / len(known)
    bars = []
    for index, (value, row) in enumerate(known):
        tall = max(1.0, height * value / top)
        colour = _BAR_COLOURS.get(row.status, "#cf222e")
        label = f"{row.task_id}: {value:.4g}"
        bars.append(
            f'<rect x="{index * step:.2f}" y="{height - tall:.2f}" '
            f'width="{max(step - 0.5, 0.5):.2f}" height="{tall:.2f}" fill="{colour}">'
            f"<title>{esc(label)}</title></rect>"
        )
    scale = f"max {top:.4g} · {plural(len(known), 'task')}"
    return (
        f'<div class="chart" data-chart={attr(what)}><h3>{esc(title)} · {esc(scale)}</h3>'
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"{''.join(bars)}</svg></div>"
    )


def _table(rows: list[TaskRow]) -> str:
    statuses = sorted({r.status for r in rows})
    options = "".join(f"<option>{esc(s)}</option>" for s in statuses)
    filters = (
        '<div class="filters"><input id="filter-text" type="search" placeholder="filter tasks"'
        ' aria-label="filter tasks"><select id="filter-status" aria-label="status">'
        f'<option value="">every status</option>{options}</select>'
        f'<span class="muted"><span id="shown">{len(rows)}</span> shown</span></div>'
    )
    head = "".join(f'<th data-type="{kind}">{name}</th>' for name, kind in _COLUMNS)
    body = "".join(_row(r) for r in rows)
    return (
        f'<h2>Tasks</h2>{filters}<table class="tasks"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _row(row: TaskRow) -> str:
    name = esc(row.task_id)
    link = f"<a href={attr(row.page)}>{name}</a>" if row.page else name
    cost = "" if row.cost is None else f"{row.cost:.6f}"
    wall = "" if row.wall_time is None else f"{row.wall_time:.3f}"
    shown_cost = "" if row.status == "pending" else money(row.cost)
    reason = row.reason or ""
    cells = [
        f"<td>{link}</td>",
        f"<td>{status_badge(row.status)}</td>",
        f"<td>{'yes' if row.solved else 'no'}</td>",
        f'<td class="n">{row.turns:,}</td>',
        f'<td class="n" data-v="{row.tokens}">{row.tokens:,}</td>',
        f'<td class="n" data-v="{cost}">{esc(shown_cost)}</td>',
        f'<td class="n" data-v="{wall}">{esc(seconds(row.wall_time))}</td>',
        f"<td title={attr(reason)}>{esc(_shorter(reason))}</td>",
    ]
    return f"<tr data-status={attr(row.status)}>{''.join(cells)}</tr>"


def _shorter(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
