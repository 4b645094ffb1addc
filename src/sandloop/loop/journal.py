"""The run journal: every step of a run, appended as it happens, the source of truth to resume.

Part of ``loop``. :class:`~sandloop.loop.runner.AgentLoop` writes one JSON object per line:
the ``header`` (the run's description and prompt cache key), each ``request`` sent, each
``response`` received (its items), each ``call_started`` and ``call_finished`` (its output item),
the ``outputs`` a turn committed to the history, ``compacted`` histories, copy-mode ``changes``,
``paused`` (deferred approvals) and ``end``. Each line is flushed and fsynced before the next step
starts, so a run killed at any point leaves every step before the kill; a torn last line (killed
mid-write) is ignored on read. Records are also kept in memory: a paused run's
:class:`~sandloop.loop.state.RunState` is made of them.

The journal lives outside the workspace: the sandbox (and the model) can write the workspace,
and the journal decides what a resumed run believes happened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from sandloop.errors import ConfigError

__all__ = ("JOURNAL_VERSION", "MAX_RECORD_BYTES", "Journal", "read_journal")

#: The journal format's version; a reader refuses a newer one.
JOURNAL_VERSION = 1
#: The longest line a reader accepts (a journal is ours, but a file can be anything).
MAX_RECORD_BYTES = 256 * 1024 * 1024


class Journal:
    """The records of one run, kept in memory and, with ``path``, appended to a file.

    Args:
        path: The JSON-lines file to append to (created with mode 0600), or ``None``.
        records: Records already written (a resumed run's), kept in memory only.
        forbidden: Directories the file must not be inside (bind-mounted workspaces).

    Raises:
        ConfigError: ``path`` is inside a forbidden directory or cannot be opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        records: Iterable[dict[str, Any]] = (),
        forbidden: Iterable[Path] = (),
    ) -> None:
        self.records: list[dict[str, Any]] = list(records)
        self.path: Path | None = None
        self._file: IO[str] | None = None
        if path is None:
            return
        raw = Path(path).expanduser()
        # The directory resolved, the file itself not: a symlink there is refused (O_NOFOLLOW).
        self.path = raw.parent.resolve() / raw.name
        for folder in forbidden:
            if self.path.is_relative_to(folder.resolve()):
                raise ConfigError(
                    f"the journal {self.path} is inside the workspace {folder}, where the "
                    "sandbox can rewrite it: put it outside"
                )
        try:
            _drop_torn_tail(self.path)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot open the journal {self.path}: {exc.strerror}") from exc
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append ``{"kind": kind, **fields}``; on disk (flushed and fsynced) when this returns."""
        record = {"kind": kind, **fields}
        self.records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        return record

    def close(self) -> None:
        """Close the file. Safe to call twice."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _drop_torn_tail(path: Path) -> None:
    """Cut a torn last line (the process was killed mid-write) so appending starts clean."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    with os.fdopen(fd, "r+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        keep = end
        while keep > 0:
            step = min(65536, keep)
            fh.seek(keep - step)
            chunk = fh.read(step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = keep - step + newline + 1
                break
            keep -= step
        if keep != end:
            fh.truncate(keep)


def read_journal(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a journal file, in order; a torn last line is left out.

    Raises:
        ConfigError: the file cannot be read, a line other than the last is not a JSON object,
            it does not start with a header, or its version is newer than this sandloop's.
    """
    try:
        with Path(path).open("rb") as fh:
            lines = _lines(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read the journal {path}: {exc.strerror}") from exc
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        try:
            record = json.loads(line)
        except ValueError:
            if last:
                break  # killed mid-write: the step it describes never finished
            raise ConfigError(f"journal {path}: line {number} is not JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
            raise ConfigError(f"journal {path}: line {number} is not a journal record")
        records.append(record)
    check_header(records, str(path))
    return records


def _lines(fh: IO[bytes]) -> list[bytes]:
    lines: list[bytes] = []
    while line := fh.readline(MAX_RECORD_BYTES + 1):
        if len(line) > MAX_RECORD_BYTES:
            raise ConfigError(f"a journal line is longer than {MAX_RECORD_BYTES} bytes")
        if line.strip():
            lines.append(line)
    return lines


def check_header(records: list[dict[str, Any]], where: str) -> None:
    """Refuse records that do not start with a header this sandloop can read."""
    if not records or records[0].get("kind") != "header":
        raise ConfigError(f"{where}: not a sandloop journal (no header record)")
    version = records[0].get("version")
    if not isinstance(version, int) or version > JOURNAL_VERSION:
        raise ConfigError(
            f"{where}: journal version {version!r} is newer than this sandloop reads "
            f"({JOURNAL_VERSION}): upgrade sandloop"
        )
