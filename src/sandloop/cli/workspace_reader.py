"""Host reads of a workspace the model can write: walked by directory descriptor, never followed.

Part of ``cli``; :mod:`sandloop.cli.snapshot` and :func:`sandloop.cli.changes.tree_diff` read
the workspace only through here. Every entry is ``lstat``-ed through its parent directory's
descriptor (no path is resolved twice, no ``PATH_MAX`` limit); only regular files are opened,
``O_NOFOLLOW | O_NONBLOCK`` and checked again with ``fstat`` after the open (a FIFO, device,
socket or a symlink swapped in between is never read); reads are streamed and stop at
:data:`MAX_FILE_BYTES` (a bigger file, sparse or not, is "too large" and not read at all).
Symlinks are reported with their target text, never followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = (
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_FILE_BYTES",
    "Entry",
    "WalkLimitError",
    "read_capped",
    "walk",
)

#: Bytes of one workspace file the host reads at most; a bigger file is "binary/too large".
MAX_FILE_BYTES = 1 << 20
#: Entries (files, links, directories...) a walk visits before it gives up.
MAX_ENTRIES = 200_000
#: Directory levels a walk descends at most.
MAX_DEPTH = 256

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1 << 16


class WalkLimitError(Exception):
    """The workspace has more entries or levels than a walk visits (or cannot be read)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One non-directory entry, by its ``lstat``: ``kind`` is ``file``, ``link`` or ``other``."""

    path: str
    kind: str
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    link: str | None = None

    def same_stat(self, other: Entry) -> bool:
        """Whether both name one unchanged inode (the model cannot set ``ctime``)."""
        return (self.kind, self.size, self.mtime_ns, self.ctime_ns, self.ino, self.link) == (
            other.kind,
            other.size,
            other.mtime_ns,
            other.ctime_ns,
            other.ino,
            other.link,
        )


def walk(root: str, skip: frozenset[str]) -> Iterator[tuple[int, str, Entry]]:
    """Every non-directory entry under ``root`` as ``(parent_fd, name, entry)``.

    ``parent_fd`` is open only until the next item. Directories named in ``skip`` are not
    entered, at any level. ``root`` itself must not be a symlink.

    Raises:
        WalkLimitError: more than :data:`MAX_ENTRIES` entries or :data:`MAX_DEPTH` levels, or a
            directory that cannot be opened or listed (never skipped silently).
    """
    try:
        top = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise WalkLimitError(f"cannot open {root}: {exc.strerror}") from exc
    counter = [0]
    try:
        yield from _walk_dir(top, "", skip, 0, counter)
    finally:
        os.close(top)


def _walk_dir(
    fd: int, prefix: str, skip: frozenset[str], depth: int, counter: list[int]
) -> Iterator[tuple[int, str, Entry]]:
    if depth > MAX_DEPTH:
        raise WalkLimitError(f"more than {MAX_DEPTH} directory levels")
    try:
        names = sorted(os.listdir(fd))
    except OSError as exc:
        raise WalkLimitError(f"cannot list {prefix or '.'}: {exc.strerror}") from exc
    for name in names:
        counter[0] += 1
        if counter[0] > MAX_ENTRIES:
            raise WalkLimitError(f"more than {MAX_ENTRIES} entries")
        path = prefix + name
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while we looked: it is not there
        if stat.S_ISDIR(st.st_mode):
            if name not in skip:
                yield from _subdir(fd, name, path + "/", skip, depth, counter)
            continue
        yield fd, name, _entry(fd, name, path, st)


def _subdir(
    fd: int, name: str, prefix: str, skip: frozenset[str], depth: int, counter: list[int]
) -> Iterator[tuple[int, str, Entry]]:
    try:
        sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise WalkLimitError(f"cannot open {prefix}: {exc.strerror}") from exc
    try:
        yield from _walk_dir(sub, prefix, skip, depth + 1, counter)
    finally:
        os.close(sub)


def _entry(fd: int, name: str, path: str, st: os.stat_result) -> Entry:
    link = None
    if stat.S_ISREG(st.st_mode):
        kind = "file"
    elif stat.S_ISLNK(st.st_mode):
        kind = "link"
        try:
            link = os.readlink(name, dir_fd=fd)  # the link's own text; its target is not read
        except OSError:
            link = ""
    else:
        kind = "other"
    return Entry(path, kind, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, link)


def read_capped(dir_fd: int, name: str, entry: Entry, cap: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of regular file ``name`` (in ``dir_fd``), or ``None``: not a regular file any
    more, another inode than ``entry``, over ``cap`` bytes, or unreadable."""
    if entry.kind != "file" or entry.size > cap:
        return None
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_ino != entry.ino or st.st_size > cap:
            return None
        chunks, total = [], 0
        while chunk := os.read(fd, _CHUNK):
            total += len(chunk)
            if total > cap:
                return None  # grew while we read
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
