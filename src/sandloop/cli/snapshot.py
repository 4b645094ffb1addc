"""A host-owned snapshot of the workspace, taken when a run starts, and what changed since.

Part of ``cli``. In bind mode (and ``--local``) ``sandloop run`` takes a :class:`Snapshot` of
the repository before the sandbox starts: every entry's ``lstat`` and the content of regular
files up to :data:`~sandloop.cli.workspace_reader.MAX_FILE_BYTES` each and
:data:`MAX_SNAPSHOT_BYTES` in all, stored in the run directory (outside the workspace). At the
end, :meth:`Snapshot.changes` walks the workspace again and lists what differs. No git runs on
the host: nothing the model writes (``.git/config``, hooks, attributes, filters, fsmonitor) is
ever executed, and a dirty repository's earlier edits are not listed as the run's. ``.git``
and ``__pycache__`` directories are not compared.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Self

from sandloop.cli.changes import FileChange, file_diff, quote_path, text_lines
from sandloop.cli.workspace_reader import Entry, WalkLimitError, read_capped, walk

__all__ = ("MAX_SNAPSHOT_BYTES", "SKIPPED_DIRS", "Snapshot")

#: Bytes of file content a snapshot keeps in all; past it, files are compared by stat only.
MAX_SNAPSHOT_BYTES = 64 << 20
#: Directories not compared (at any level).
SKIPPED_DIRS = frozenset({".git", "__pycache__"})

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Snapshot:
    """The workspace as it was; a context manager closing the content store.

    Args:
        root: The workspace.
        store_dir_fd: A host-owned directory (the run directory) to keep file contents in,
            under ``snapshot/``.
    """

    def __init__(self, root: Path, store_dir_fd: int) -> None:
        self.root = root
        os.mkdir("snapshot", 0o700, dir_fd=store_dir_fd)
        self._store = os.open("snapshot", _DIR_FLAGS, dir_fd=store_dir_fd)
        self.entries: dict[str, Entry] = {}
        self._digests: dict[str, str] = {}
        self._kept = 0
        #: Why the snapshot does not cover the whole workspace (``None``: it does).
        self.incomplete: str | None = None
        try:
            for fd, name, entry in walk(str(root), SKIPPED_DIRS):
                self.entries[entry.path] = entry
                self._keep(fd, name, entry)
        except WalkLimitError as exc:
            self.incomplete = str(exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the content store. Safe to call twice."""
        if self._store >= 0:
            os.close(self._store)
            self._store = -1

    def _keep(self, fd: int, name: str, entry: Entry) -> None:
        if entry.kind != "file" or self._kept + entry.size > MAX_SNAPSHOT_BYTES:
            return
        data = read_capped(fd, name, entry)
        if data is None:
            return
        digest = hashlib.sha256(data).hexdigest()
        self._digests[entry.path] = digest
        try:
            out = os.open(digest, _NEW_FILE, 0o600, dir_fd=self._store)
        except FileExistsError:
            return  # the same content is stored already
        with os.fdopen(out, "wb") as stream:
            stream.write(data)
        self._kept += len(data)

    def _old(self, path: str) -> bytes | None:
        digest = self._digests.get(path)
        if digest is None:
            return None
        fd = os.open(digest, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._store)
        with os.fdopen(fd, "rb") as stream:
            return stream.read()

    def changes(self) -> tuple[list[FileChange], str | None]:
        """What differs now from the snapshot, and why the list may be incomplete."""
        found: list[FileChange] = []
        seen: set[str] = set()
        try:
            for fd, name, entry in walk(str(self.root), SKIPPED_DIRS):
                seen.add(entry.path)
                old = self.entries.get(entry.path)
                if old is not None and old.same_stat(entry):
                    continue
                change = self._compare(old, entry, read_capped(fd, name, entry))
                if change is not None:
                    found.append(change)
        except WalkLimitError as exc:
            return found, f"(the changed files are not all listed: {exc})"
        for path in self.entries.keys() - seen:
            found.append(self._deleted(self.entries[path]))
        found.sort(key=lambda change: change.path)
        note = None if self.incomplete is None else f"(snapshot incomplete: {self.incomplete})"
        return found, note

    def diff(self) -> str:
        """A unified diff of what changed since the snapshot (``sandloop run --diff``).

        A file the snapshot did not keep (binary, too large, past the budget) shows as one line
        saying so; past the walk's limits the diff is partial and names no deleted file.
        """
        parts: dict[str, str] = {}
        try:
            for fd, name, entry in walk(str(self.root), SKIPPED_DIRS):
                old = self.entries.get(entry.path)
                if old is None or not old.same_stat(entry):
                    after = text_lines(entry, read_capped(fd, name, entry))
                    parts[entry.path] = file_diff(entry.path, self._old_lines(old), after)
                else:
                    parts[entry.path] = ""
        except WalkLimitError:
            return "".join(parts[path] for path in sorted(parts))
        for path in self.entries.keys() - parts.keys():
            parts[path] = file_diff(path, self._old_lines(self.entries[path]), None)
        return "".join(parts[path] for path in sorted(parts))

    def _old_lines(self, old: Entry | None) -> list[str] | None:
        if old is None:
            return None
        return text_lines(old, self._old(old.path) if old.kind == "file" else None)

    def _compare(self, old: Entry | None, new: Entry, data: bytes | None) -> FileChange | None:
        path = quote_path(new.path)
        status = "new" if old is None else "modified"
        if old is not None and new.kind == old.kind == "link" and new.link == old.link:
            return None  # the same link made again
        if new.kind != "file":
            return FileChange(path, -1, -1, status, _detail(new))
        if data is None:
            return FileChange(path, -1, -1, status, "binary/too large")
        if old is None:
            return _counted(path, b"", data, status)
        before = self._old(new.path) if old.kind == "file" else None
        if before is None:
            return FileChange(path, -1, -1, status, _detail(old, "binary/too large"))
        if before == data:
            return None  # touched, not changed
        return _counted(path, before, data, status)

    def _deleted(self, old: Entry) -> FileChange:
        path = quote_path(old.path)
        before = self._old(old.path) if old.kind == "file" else None
        if before is None:
            return FileChange(path, -1, -1, "deleted", _detail(old, "binary/too large"))
        return _counted(path, before, b"", "deleted")


def _detail(entry: Entry, default: str = "binary") -> str:
    return {"link": "symlink", "other": "special file"}.get(entry.kind, default)


def _counted(path: str, before: bytes, after: bytes, status: str) -> FileChange:
    """Lines added and removed, as the multiset difference of the two files' lines (linear;
    equal to ``git diff --numstat`` except that a moved line counts as unchanged)."""
    if b"\0" in before or b"\0" in after:
        return FileChange(path, -1, -1, status, "binary")
    old, new = Counter(before.splitlines()), Counter(after.splitlines())
    return FileChange(path, (new - old).total(), (old - new).total(), status)
