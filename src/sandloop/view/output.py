"""Where the pages go, and writing them again when the record changes.

Part of ``view``, its top: a :class:`Renderer` reads a record (a run or a batch), writes its
page(s) and, asked again, rewrites only what a changed file touches. A run's page defaults to
``view.html`` in its run directory (``NAME.html`` next to a journal, transcript or cassette
file); a batch's to ``view/index.html`` in its directory, each task's page in ``view/tasks/``.
Pages are written to a fresh temporary name and renamed over the target: a symlink planted
there is replaced, never written through.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sandloop.errors import ConfigError
from sandloop.view.batch_page import batch_page
from sandloop.view.batch_source import is_batch, load_batch, task_run
from sandloop.view.records import TaskRow
from sandloop.view.run_page import run_page
from sandloop.view.run_source import load_run, run_kind

__all__ = ("Renderer", "default_output", "render")

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def default_output(source: Path) -> Path:
    """Where the page of ``source`` goes unless told otherwise."""
    if is_batch(source):
        return source / "view" / "index.html"
    if source.is_dir():
        return source / "view.html"
    return source.with_name(source.stem + ".html")


def render(source: Path, out: Path | None = None) -> Path:
    """Write the page(s) of the record at ``source``; returns the main page's path.

    Raises:
        ConfigError: ``source`` is not a record ``sandloop view`` reads, or cannot be read.
    """
    renderer = Renderer(source, out)
    renderer.refresh()
    return renderer.page


@dataclass
class Renderer:
    """The pages of one record, rewritten by :meth:`refresh` when its files change.

    Attributes:
        source: The record: a run directory or file, a cassette, or a batch directory.
        page: The main page (``out``, or :func:`default_output`).
        version: Changes whenever a page was rewritten (served live pages poll it).
        live: The run or batch had not ended when last read.
        pages: Every page written (what :mod:`.serve` serves, and nothing else).
    """

    source: Path
    out: Path | None = None
    page: Path = field(init=False)
    version: str = field(default="", init=False)
    live: bool = field(default=False, init=False)
    pages: set[Path] = field(default_factory=set, init=False)
    _seen: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.source = Path(self.source).expanduser().resolve()
        if not self.source.exists():
            raise ConfigError(f"{self.source} does not exist")
        self.batch = is_batch(self.source)
        if not self.batch and run_kind(self.source) is None:
            raise ConfigError(
                f"{self.source} is not a run directory, transcript, journal, cassette or "
                "batch output directory"
            )
        self.page = (
            Path(self.out).expanduser().resolve() if self.out else default_output(self.source)
        )

    def refresh(self) -> bool:
        """Rewrite the pages whose record changed since the last call; whether any was."""
        changed = self._refresh_batch() if self.batch else self._refresh_run()
        if changed:
            self.version = hashlib.sha256(
                "".join(sorted(self._seen.values())).encode()
            ).hexdigest()[:16]
        return changed

    def _refresh_run(self) -> bool:
        stamp = _stamp(self.source)
        if self._seen.get("") == stamp:
            return False
        view = load_run(self.source)
        self.live = view.live
        self._write(self.page, run_page(view))
        self._seen[""] = stamp
        return True

    def _refresh_batch(self) -> bool:
        batch_stamp = _stamp(self.source / "summary.json") + _stamp(self.source / "tasks")
        changed = False
        view = load_batch(self.source)
        for row in view.rows:
            folder = self.source / "tasks" / row.task_id
            if row.status == "pending" or not folder.is_dir():
                continue
            row.page = f"tasks/{_file_name(row.task_id)}"
            stamp = _stamp(folder)
            if self._seen.get(row.task_id) != stamp:
                self._write_task(folder, row)
                self._seen[row.task_id] = stamp
                changed = True
        if changed or self._seen.get("") != batch_stamp:
            self.live = view.live
            self._write(self.page, batch_page(view))
            self._seen[""] = batch_stamp
            changed = True
        return changed

    def _write_task(self, folder: Path, row: TaskRow) -> None:
        assert row.page is not None
        view = task_run(folder, row)
        self._write(self.page.parent / row.page, run_page(view, back="../" + self.page.name))

    def _write(self, path: Path, text: str) -> None:
        _write(path, text)
        self.pages.add(path)


def _file_name(task_id: str) -> str:
    """A task's page name: its id when that is a plain file name, else a safe one."""
    if _SAFE_NAME.fullmatch(task_id):
        return f"{task_id}.html"
    digest = hashlib.sha256(task_id.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', task_id)[:60]}-{digest}.html"


def _stamp(path: Path) -> str:
    """Size and modification time of ``path`` or, for a directory, of the files it holds (not
    our own pages, nor temporary files)."""
    try:
        if not path.is_dir():
            found = path.stat()
            return f"{found.st_size}:{found.st_mtime_ns}"
        entries = sorted(
            p for p in path.iterdir() if not p.name.startswith(".") and p.suffix != ".html"
        )
        return ";".join(f"{p.name}:{s.st_size}:{s.st_mtime_ns}" for p in entries if (s := p.stat()))
    except OSError:
        return "missing"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
