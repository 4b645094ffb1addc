"""The HTML every page shares: escaping, the page shell (inline CSS and JS), text blocks, diffs.

Part of ``view``, below the pages. Everything a record holds is text to show, never markup: it
goes through :func:`esc` (or :func:`attr`) on its way into the page. The page also carries a
Content-Security-Policy whose script source is a per-page nonce, so a script that slipped in
anyway would not run, and no request leaves the page except the live page's poll of its own
server. A page is one file: no network, no CDN, it opens from ``file://``.
"""

from __future__ import annotations

import html
import secrets
from importlib import resources

__all__ = ("attr", "collapsible", "diff_block", "esc", "page", "plural", "size_text")

#: Text longer than this (characters) or :data:`SHORT_LINES` lines is collapsed.
SHORT_CHARS = 1500
SHORT_LINES = 24
#: The most characters of one block put in the page; the middle of a longer one is left out.
MAX_BLOCK_CHARS = 200_000


def esc(text: object) -> str:
    """``text`` as HTML text (``<``, ``>``, ``&`` and both quotes escaped)."""
    return html.escape(str(text), quote=True)


def attr(text: object) -> str:
    """``text`` as a double-quoted attribute value, quotes included."""
    return f'"{esc(text)}"'


def plural(count: int, word: str) -> str:
    """``1 turn``, ``3 turns``."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def size_text(text: str) -> str:
    """How big ``text`` is, for a collapsed block's label: ``12.3 KB, 340 lines``."""
    size = len(text.encode("utf-8", "replace"))
    if size < 1000:
        amount = f"{size} B"
    elif size < 1_000_000:
        amount = f"{size / 1000:.1f} KB"
    else:
        amount = f"{size / 1_000_000:.1f} MB"
    return f"{amount}, {plural(text.count(chr(10)) + (not text.endswith(chr(10))), 'line')}"


def _capped(text: str) -> str:
    if len(text) <= MAX_BLOCK_CHARS:
        return text
    half = MAX_BLOCK_CHARS // 2
    dropped = len(text) - 2 * half
    return f"{text[:half]}\n… {dropped:,} characters not shown here …\n{text[-half:]}"


def collapsible(
    label: str, text: str, *, css: str = "out", inner: str | None = None, open_: bool = False
) -> str:
    """A labelled text block: shown as it is when short, else collapsed with its size.

    Args:
        label: What the text is (``stdout``, ``arguments``).
        text: The text, escaped here.
        css: The block's class (``out``, ``err``, ``diff``).
        inner: Markup to show instead of the escaped text (already escaped by the caller).
        open_: Show a long block open (still collapsible).
    """
    body = inner if inner is not None else esc(_capped(text))
    short = len(text) <= SHORT_CHARS and text.count("\n") < SHORT_LINES
    head = f'<span class="label">{esc(label)}</span>'
    if short:
        return f'<div class="block">{head}<pre class="{css}">{body}</pre></div>'
    return (
        f'<details class="block"{" open" if open_ else ""}><summary>{head} '
        f'<span class="size">{esc(size_text(text))}</span></summary>'
        f'<pre class="{css}">{body}</pre></details>'
    )


def diff_lines(diff: str) -> str:
    """A unified or V4A diff as markup, one coloured span per added, removed or hunk line."""
    out = []
    for line in _capped(diff).splitlines():
        if line.startswith(("+++", "---", "diff ", "index ", "*** ")):
            css = "dm"
        elif line.startswith("+"):
            css = "da"
        elif line.startswith("-"):
            css = "dd"
        elif line.startswith("@@"):
            css = "dh"
        else:
            out.append(esc(line) + "\n")
            continue
        out.append(f'<span class="{css}">{esc(line)}</span>\n')
    return "".join(out)


def diff_block(label: str, diff: str, *, open_: bool = False) -> str:
    """A coloured diff, collapsed when long (unless ``open_``)."""
    return collapsible(label, diff, css="diff", inner=diff_lines(diff), open_=open_)


def _asset(name: str) -> str:
    return resources.files("sandloop.view").joinpath("assets", name).read_text(encoding="utf-8")


def page(title: str, body: str, *, live: bool = False) -> str:
    """A whole page: ``body`` (markup) in the shell with the shared style and script.

    Args:
        title: The window title (escaped here).
        body: The page's markup.
        live: The record is still being written: a page served by ``sandloop view --serve``
            polls its server and reloads when the record changes.
    """
    nonce = secrets.token_urlsafe(16)
    policy = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'nonce-{nonce}'; connect-src 'self'; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content={attr(policy)}>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="sandloop-live" content="{int(live)}">'
        f"<title>{esc(title)}</title><style>{_asset('page.css')}</style></head>\n"
        f"<body>{body}\n<script nonce={attr(nonce)}>{_asset('page.js')}</script></body></html>\n"
    )
