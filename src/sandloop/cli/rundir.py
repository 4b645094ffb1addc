"""The run directory: where ``sandloop run`` keeps a run's transcript and results.

Part of ``cli``. Each run gets ``<root>/runs/<run-id>/``, where ``root`` is ``$SANDLOOP_HOME``
when set, else ``.sandloop`` in the repository (with a ``.gitignore`` so git and the agent's
``git status`` ignore it). ``transcript.jsonl`` gets one JSON object per line, written and
flushed as the run goes, so an interrupted run keeps everything up to the interruption.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

__all__ = ("RunDirectory", "runs_root")


def runs_root(repo: Path) -> Path:
    """``$SANDLOOP_HOME/runs``, else ``<repo>/.sandloop/runs``."""
    home = os.environ.get("SANDLOOP_HOME")
    if home:
        return Path(home).expanduser() / "runs"
    return repo / ".sandloop" / "runs"


class RunDirectory:
    """A run's directory and its JSONL transcript; a context manager closing the file.

    Args:
        root: The ``runs`` directory.
        run_id: The run's id (the directory's name).
    """

    def __init__(self, root: Path, run_id: str) -> None:
        self.path = root / run_id
        self.path.mkdir(parents=True, exist_ok=True)
        if root.parent.name == ".sandloop":
            ignore = root.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# sandloop run transcripts\n*\n", encoding="utf-8")
        self.transcript_path = self.path / "transcript.jsonl"
        self._file: IO[str] | None = self.transcript_path.open("a", encoding="utf-8")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, kind: str, **fields: Any) -> None:
        """Append one record ``{"type": kind, "time": ..., **fields}`` and flush it."""
        if self._file is None:
            return
        record = {"type": kind, "time": round(time.time(), 3), **fields}
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def save(self, name: str, text: str) -> Path:
        """Write another file of the run (``result.json``, ``changes.patch``)."""
        target = self.path / name
        target.write_text(text, encoding="utf-8")
        return target

    def close(self) -> None:
        """Close the transcript. Safe to call twice."""
        if self._file is not None:
            self._file.close()
            self._file = None
