"""``write_files``: several files written and deleted all or nothing."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import stat
from typing import TYPE_CHECKING

from .common import BadRequest, FileOpError, Made, Reply, Request, os_error
from .files import CREATE_FLAGS, existing_mode, unlink_quietly
from .paths import Workspace

if TYPE_CHECKING:
    from .serve import Runner


class Staged:
    """One change of a ``write_files`` commit: where it goes and the hidden files beside it."""

    def __init__(self, path: str, parent: int, name: str, delete: bool) -> None:
        self.path = path
        self.parent = parent  # the deepest existing directory on the way (shared, not owned)
        self.pending: list[str] = []  # directories to make under it, at commit time
        self.dir = parent  # the target's directory, once it exists
        self.name = name
        self.delete = delete
        self.fd: int | None = None  # the new content in an unnamed file (O_TMPFILE)...
        self.tmp: str | None = None  # ...or in a hidden one, in tmp_dir
        self.tmp_dir = parent
        self.old: str | None = None  # the previous file, kept under a hidden name until done
        self.existed = False


class Commit:
    """What one ``write_files`` holds: the staged changes, the directories it made and one
    open descriptor per directory (a patch of many files must not run out of them)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.staged: list[Staged] = []
        self.made: Made = []
        self.dirs: dict[tuple[int, int], int] = {}
        self.opened: list[int] = []
        self.new_dirs: dict[tuple[int, str], int] = {}
        self.seen: dict[tuple[int, int, str], str] = {}
        self.unnamed = 0

    def directory(self, fd: int) -> tuple[int, tuple[int, int]]:
        """Our own descriptor for the directory ``fd`` is open on, and its identity."""
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino)
        if key not in self.dirs:
            self.dirs[key] = os.dup(fd)
        return self.dirs[key], key

    def close(self) -> None:
        for item in self.staged:
            if item.fd is not None:
                os.close(item.fd)
                item.fd = None
        for fd in [*self.dirs.values(), *self.opened, *(parent for parent, _ in self.made)]:
            os.close(fd)


#: Staged contents kept as unnamed open files at most; more go to hidden named files.
MAX_UNNAMED = 256


def _side_name(name: str, kind: str) -> str:
    return f".{name[:100]}.{secrets.token_hex(4)}.sandloop-{kind}"


def op_write_files(runner: Runner, req: Request) -> Reply:
    """Write and delete several files all or nothing.

    Every path is confined and every new content staged (written and fsynced) before anything
    visible changes: in an unnamed file where the filesystem has O_TMPFILE (so a runner killed
    while staging leaves nothing behind), else in a hidden file; new directories are not made
    yet. Then one tight loop makes the new directories, links and renames the staged files
    into place and moves the deleted ones aside. A failure while staging removes what was
    staged; a failure in the loop puts back what it changed and removes the directories it
    made. Only a crash in the middle of the loop (microseconds) can leave part of the commit.
    """
    changes = req.get("files")
    if not isinstance(changes, list) or not changes:
        raise BadRequest("write_files needs a non-empty list of files")
    commit = Commit(runner)
    try:
        for change in changes:
            _stage(commit, change)
        _commit(commit)
    except BaseException:
        for item in commit.staged:
            _discard(item)
        for parent, name in reversed(commit.made):
            with contextlib.suppress(OSError):  # not empty: someone else put a file there
                os.rmdir(name, dir_fd=parent)
        raise
    else:
        for item in commit.staged:
            if item.old is not None:
                unlink_quietly(item.old, item.dir)
    finally:
        commit.close()
    return {"count": len(commit.staged)}


def _stage(commit: Commit, change: Request) -> None:
    path = str(change["path"])
    delete = change.get("data") is None
    workspace = commit.runner.workspace
    missing: list[str] = []
    with workspace.resolve(
        path, create=not delete, follow=not delete, made=commit.made, missing=missing
    ) as res:
        if res.name is None:
            raise FileOpError("is_directory", f"{path} is a directory", path)
        parent, key = commit.directory(res.parent)
        name = res.name
    if delete and missing:
        raise FileOpError("not_found", f"{path}: no such directory {missing[0]!r}", path)
    ident = (*key, "/".join([*missing, name]))
    if ident in commit.seen:
        raise FileOpError("exists", f"{path} names the same file as {commit.seen[ident]}", path)
    commit.seen[ident] = path
    item = Staged(path, parent, name, delete)
    item.pending = missing
    commit.staged.append(item)  # from here on, a failure cleans this one up too
    info = None if missing else _lstat(parent, name, path)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise FileOpError("is_directory", f"{path} is a directory", path)
    item.existed = info is not None
    if delete:
        if info is None:
            raise FileOpError("not_found", f"{path}: no such file", path)
        return
    mode = change.get("mode")
    if mode is None:
        default = commit.runner.default_mode
        mode = default if missing else existing_mode(parent, name, default)
    data = base64.b64decode(change.get("data") or "")
    _stage_content(item, data, int(mode), unnamed=commit.unnamed < MAX_UNNAMED)
    if item.fd is not None:
        commit.unnamed += 1


def _lstat(parent: int, name: str, path: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error(exc, path) from None


def _stage_content(item: Staged, data: bytes, mode: int, *, unnamed: bool) -> None:
    parent, path = item.parent, item.path
    fd = _open_unnamed(parent) if unnamed else None
    if fd is None:
        tmp = _side_name(item.name, "tmp")
        try:
            fd = os.open(tmp, CREATE_FLAGS, 0o600, dir_fd=parent)
        except OSError as exc:
            raise os_error(exc, path) from None
        item.tmp = tmp
    else:
        item.fd = fd
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        # Permission bits only: a written file never becomes setuid, setgid or sticky.
        os.fchmod(fd, mode & 0o777)
        os.fsync(fd)
    except OSError as exc:
        raise os_error(exc, path) from None
    finally:
        if item.tmp is not None:
            os.close(fd)


_UNNAMED: list[bool] = []


def _open_unnamed(parent: int) -> int | None:
    """An unnamed file in the directory (O_TMPFILE), or None where that cannot be linked in."""
    if not _UNNAMED:
        _UNNAMED.append(hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"))
    if not _UNNAMED[0]:
        return None
    try:
        return os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600, dir_fd=parent)
    except OSError:
        return None  # the filesystem has no O_TMPFILE (EOPNOTSUPP, EISDIR on old kernels)


def _commit(commit: Commit) -> None:
    """Make every staged change visible; on an error, put back the ones made and raise."""
    done: list[Staged] = []
    item = commit.staged[0]
    try:
        for item in commit.staged:
            if item.delete:
                old = _side_name(item.name, "old")
                os.rename(item.name, old, src_dir_fd=item.dir, dst_dir_fd=item.dir)
                item.old = old
                done.append(item)
                continue
            if item.pending:
                item.dir = _make_dirs(commit, item)
            if item.existed:
                _keep_old(item)
            if item.fd is not None:
                tmp = _side_name(item.name, "tmp")
                os.link(f"/proc/self/fd/{item.fd}", tmp, dst_dir_fd=item.dir)
                item.tmp, item.tmp_dir = tmp, item.dir
            assert item.tmp is not None
            os.rename(item.tmp, item.name, src_dir_fd=item.tmp_dir, dst_dir_fd=item.dir)
            item.tmp = None
            done.append(item)
    except (OSError, FileOpError) as exc:
        for landed in reversed(done):
            _put_back(landed)
        if isinstance(exc, FileOpError):
            raise
        raise os_error(exc, item.path) from None


def _make_dirs(commit: Commit, item: Staged) -> int:
    """Make (or open, when an earlier change made it) each directory still missing."""
    key = (item.parent, "/".join(item.pending))
    if key not in commit.new_dirs:
        fd = item.parent
        try:
            for name in item.pending:
                child = Workspace._open_dir(fd, name, item.path, True, commit.made)
                if fd != item.parent:
                    os.close(fd)
                fd = child
        except BaseException:
            if fd != item.parent:
                os.close(fd)
            raise
        commit.opened.append(fd)
        commit.new_dirs[key] = fd
    return commit.new_dirs[key]


def _keep_old(item: Staged) -> None:
    # A second name for the file being replaced, so a failed commit can put it back. Without
    # hard links (some filesystems) that one change cannot be undone.
    old = _side_name(item.name, "old")
    with contextlib.suppress(OSError):
        os.link(item.name, old, src_dir_fd=item.dir, dst_dir_fd=item.dir, follow_symlinks=False)
        item.old = old


def _put_back(item: Staged) -> None:
    with contextlib.suppress(OSError):
        if item.old is not None:
            os.rename(item.old, item.name, src_dir_fd=item.dir, dst_dir_fd=item.dir)
            item.old = None
        elif not item.existed:
            os.unlink(item.name, dir_fd=item.dir)


def _discard(item: Staged) -> None:
    if item.tmp is not None:
        unlink_quietly(item.tmp, item.tmp_dir)
    if item.old is not None:
        unlink_quietly(item.old, item.dir)
