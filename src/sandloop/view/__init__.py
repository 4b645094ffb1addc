"""``sandloop view``: a run's or a batch's record as self-contained HTML pages.

A subpackage beside ``cli``, reading what the rest of sandloop writes and writing pages, never
running anything: :mod:`.run_source` and :mod:`.batch_source` read the records (a run
directory, a journal, a transcript, a cassette, a batch output directory) into the values of
:mod:`.records`, through :mod:`.run_builder`; :mod:`.run_page`, :mod:`.batch_page` and
:mod:`.call_views` format them with the shell of :mod:`.markup`; :mod:`.output` writes the
pages and :mod:`.serve` serves them live.
Every page is one file that opens from ``file://``: its style, script and screenshots are
inline, and it loads nothing from the network.

    from sandloop.view import render
    page = render(Path("~/.local/state/sandloop/runs/run_..."))
"""

from __future__ import annotations

from sandloop.view.batch_source import load_batch
from sandloop.view.output import Renderer, default_output, render
from sandloop.view.records import BatchView, CallView, RunView, TaskRow, TurnView
from sandloop.view.run_source import load_run
from sandloop.view.serve import ViewServer

__all__ = (
    "BatchView",
    "CallView",
    "Renderer",
    "RunView",
    "TaskRow",
    "TurnView",
    "ViewServer",
    "default_output",
    "load_batch",
    "load_run",
    "render",
)
