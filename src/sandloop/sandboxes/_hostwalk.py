"""Host-side walks of a workspace the model wrote, by directory file descriptor.

Where it sits: the sandboxes' host half (``DockerSandbox.aclose`` clears setid bits of a
bind-mounted workspace with it). The tree is hostile input, so a walk here

- never follows a link: every directory is opened relative to its parent's descriptor with
  ``O_NOFOLLOW | O_DIRECTORY``, every file is judged by ``lstat`` and changed without following;
- has no path-length limit: no full path is ever handed to the kernel, so a tree deeper than
  ``PATH_MAX`` is walked like any other; and it is iterative, holding one directory descriptor
  at a time (it climbs back with ``..``, checked against the device and inode it left), so depth
  costs neither recursion nor descriptors;
- never skips quietly: whatever it cannot open, list or change is recorded, the rest of the tree
  is still done, and the caller gets every failure (``clear_setid_bits`` raises them).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandloop.errors import WorkspaceCleanupError

__all__ = ("Failure", "clear_setid_bits", "walk_files")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
#: Failures kept (and shown) at most: a broken tree can fail everywhere.
_MAX_FAILURES = 200

#: ``(path relative to the root, what went wrong)``.
Failure = tuple[str, str]
#: Called for every entry that is not a directory: (its directory's descriptor, the entry).
Visit = Callable[[int, "os.DirEntry[str]"], None]


@dataclass
class _Frame:
    name: str
    ident: tuple[int, int]
    subdirs: list[str] = field(default_factory=list)


def _ident(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def walk_files(root: Path, visit: Visit) -> list[Failure]:
    """Call ``visit`` for every non-directory under ``root``, never following a link.

    Returns every failure (``visit`` raising ``OSError`` counts as one); an empty list means the
    whole tree was seen. Raises nothing for the tree's sake, except ``OSError`` for ``root``.
    """
    failures: list[Failure] = []
    fd = os.open(root, _DIR_FLAGS)
    try:
        frames = [_Frame("", _ident(fd))]
        _scan(fd, frames, visit, failures)
        while frames:
            frame = frames[-1]
            if frame.subdirs:
                fd = _descend(fd, frames, frame.subdirs.pop(), visit, failures)
                continue
            frames.pop()
            if frames:
                try:
                    fd = _climb(fd, frames)
                except OSError as exc:  # cannot get back up safely: the rest is not reached
                    _fail(failures, frames, "", exc)
                    break
    finally:
        os.close(fd)
    return failures


def _descend(fd: int, frames: list[_Frame], name: str, visit: Visit, fails: list[Failure]) -> int:
    try:
        child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        frame = _Frame(name, _ident(child))
    except OSError as exc:
        _fail(fails, frames, name, exc)
        return fd
    os.close(fd)
    frames.append(frame)
    _scan(child, frames, visit, fails)
    return child


def _climb(fd: int, frames: list[_Frame]) -> int:
    parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
    if _ident(parent) != frames[-1].ident:
        os.close(parent)
        where = _relative(frames, "")
        raise OSError(errno.ESTALE, f"{where or '.'} was moved while it was being walked")
    os.close(fd)
    return parent


def _scan(fd: int, frames: list[_Frame], visit: Visit, fails: list[Failure]) -> None:
    frame = frames[-1]
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        frame.subdirs.append(entry.name)
                    else:
                        visit(fd, entry)
                except OSError as exc:
                    _fail(fails, frames, entry.name, exc)
    except OSError as exc:
        _fail(fails, frames, "", exc)


def _relative(frames: list[_Frame], name: str) -> str:
    return "/".join([frame.name for frame in frames[1:]] + ([name] if name else []))


def _fail(fails: list[Failure], frames: list[_Frame], name: str, exc: OSError) -> None:
    if len(fails) < _MAX_FAILURES:
        fails.append((_relative(frames, name) or ".", exc.strerror or str(exc)))


# --- setuid / setgid ------------------------------------------------------------------------


def clear_setid_bits(root: Path) -> int:
    """Clear the setuid and setgid bits of every regular file under ``root``; returns how many.

    Git does not track these bits, so a repository never needs them; left in place, a file the
    container's user owns (root, when sandloop runs as root) would run with that user's rights
    for anyone on the host. Run it once nothing can write the tree any more.

    Raises:
        WorkspaceCleanupError: Some part of the tree could not be walked or changed (every
            other file was still done); ``failures`` lists them.
    """
    cleared = 0

    def visit(dir_fd: int, entry: os.DirEntry[str]) -> None:
        nonlocal cleared
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o6000:
            _chmod_nofollow(dir_fd, entry.name, stat.S_IMODE(info.st_mode) & ~0o6000)
            cleared += 1

    try:
        failures = walk_files(root, visit)
    except OSError as exc:
        failures = [(".", exc.strerror or str(exc))]
    if failures:
        path, why = failures[0]
        shown = path if len(path) <= 120 else "..." + path[-117:]
        raise WorkspaceCleanupError(
            f"could not clear setuid/setgid bits everywhere in {root}: {len(failures)} "
            f"failure(s), the first at {shown!r} ({why}); check the workspace by hand "
            "(find . -perm /6000)",
            path=path,
            failures=failures,
        )
    return cleared


def _chmod_nofollow(dir_fd: int, name: str, mode: int) -> None:
    try:
        os.chmod(name, mode, dir_fd=dir_fd, follow_symlinks=False)
        return
    except (NotImplementedError, ValueError):
        pass  # no fchmodat(AT_SYMLINK_NOFOLLOW) here: change it through an O_PATH descriptor
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)
