"""The run directory: where ``sandloop run`` keeps a run's transcript and results.

Part of ``cli``. Each run gets ``<root>/<run-id>/``, where ``root`` is ``$SANDLOOP_HOME/runs``
when set, else ``$XDG_STATE_HOME/sandloop/runs`` (default ``~/.local/state/sandloop/runs``):
always outside the workspace, which the model can write. ``transcript.jsonl`` gets one JSON
object per line, written and flushed as the run goes, so an interrupted run keeps everything up
to the interruption.

Every file is made through the run directory's file descriptor with no-follow semantics: the
root and the run directory are opened ``O_DIRECTORY | O_NOFOLLOW`` (a symlink there is
refused), the transcript is created ``O_EXCL | O_NOFOLLOW``, and other files are written to a
fresh temporary name and renamed over the target, so a symlink planted in the directory is
replaced, never written through.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from sandloop.errors import ConfigError

__all__ = ("RunDirectory", "runs_root")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def runs_root(repo: Path | None = None) -> Path:
    """``$SANDLOOP_HOME/runs``, else ``$XDG_STATE_HOME/sandloop/runs``, else
    ``~/.local/state/sandloop/runs``.

    Args:
        repo: The workspace of the run; a root inside it is refused.

    Raises:
        ConfigError: the root would lie inside ``repo`` (the model could read and forge it).
    """
    home = os.environ.get("SANDLOOP_HOME")
    if home:
        root = Path(home).expanduser() / "runs"
    else:
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        root = Path(state).expanduser() / "sandloop" / "runs"
    if repo is not None:
        check_outside(root, repo)
    return root


def check_outside(root: Path, repo: Path) -> None:
    """Refuse a run root inside (or equal to) the workspace ``repo``.

    Raises:
        ConfigError: it is inside.
    """
    resolved, workspace = root.resolve(), repo.resolve()
    if resolved == workspace or workspace in resolved.parents:
        raise ConfigError(
            f"the run records would be kept in {resolved}, inside the workspace {workspace}, "
            "where the agent could read and change them: set SANDLOOP_HOME to a directory "
            "outside it"
        )


class RunDirectory:
    """A run's directory and its JSONL transcript; a context manager closing the file.

    Args:
        root: The ``runs`` directory (made when missing; a symlink is refused).
        run_id: The run's id (the directory's name; it must not exist yet).

    Raises:
        ConfigError: the root or the run directory is a symlink, is no directory, or cannot
            be made.
    """

    def __init__(self, root: Path, run_id: str) -> None:
        if "/" in run_id or run_id in ("", ".", ".."):
            raise ConfigError(f"bad run id {run_id!r}")
        self.path = root / run_id
        self._dir = _open_run_dir(root, run_id)
        self.transcript_path = self.path / "transcript.jsonl"
        fd = os.open("transcript.jsonl", _NEW_FILE | os.O_APPEND, 0o600, dir_fd=self._dir)
        self._file: IO[str] | None = os.fdopen(fd, "a", encoding="utf-8")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def dir_fd(self) -> int:
        """The run directory's open descriptor (valid until :meth:`close`)."""
        return self._dir

    def write(self, kind: str, **fields: Any) -> None:
        """Append one record ``{"type": kind, "time": ..., **fields}`` and flush it."""
        if self._file is None:
            return
        record = {"type": kind, "time": round(time.time(), 3), **fields}
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def save(self, name: str, text: str | bytes) -> Path:
        """Write another file of the run (``result.json``, ``changes.patch``), replacing any
        entry of that name (a symlink included: it is replaced, not followed)."""
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a file name: {name!r}")
        data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        tmp = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, _NEW_FILE, 0o600, dir_fd=self._dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.rename(tmp, name, src_dir_fd=self._dir, dst_dir_fd=self._dir)
        except BaseException:
            os.unlink(tmp, dir_fd=self._dir)
            raise
        return self.path / name

    def close(self) -> None:
        """Close the transcript and the directory. Safe to call twice."""
        if self._file is not None:
            self._file.close()
            self._file = None
            os.close(self._dir)


def _open_run_dir(root: Path, run_id: str) -> int:
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        root_fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise ConfigError(f"cannot use {root} for the run records: {_why(root, exc)}") from exc
    try:
        os.mkdir(run_id, 0o700, dir_fd=root_fd)
        fd = os.open(run_id, _DIR_FLAGS, dir_fd=root_fd)
    except OSError as exc:
        raise ConfigError(f"cannot make the run directory {root / run_id}: {exc}") from exc
    finally:
        os.close(root_fd)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):  # pragma: no cover - O_DIRECTORY ensures it
        os.close(fd)
        raise ConfigError(f"{root / run_id} is not a directory")
    return fd


def _why(path: Path, exc: OSError) -> str:
    if path.is_symlink():
        return "it is a symlink (refused: records are never written through links)"
    return exc.strerror or str(exc)
