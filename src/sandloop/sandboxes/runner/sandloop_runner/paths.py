"""Confined paths: every caller path walked inside the workspace root with directory fds.

Each component is opened with ``O_NOFOLLOW``; symlinks are resolved here, in user space, and
refused when they lead out. A symlink swapped in between two steps is therefore seen and judged
at the step that meets it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat

from .common import FileOpError, Made, nofollow_error, os_error

MAX_SYMLINKS = 40


class Workspace:
    """Resolves caller paths inside the root with directory fds, never leaving it."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def relative(self, path: str) -> list[str]:
        """The path's components relative to the root; raises ``escape`` for outside paths."""
        original = path
        if "\x00" in path:
            raise FileOpError("invalid", "path contains a NUL byte", path)
        if path.startswith("/"):
            prefix = self.root.rstrip("/") + "/"
            if path.rstrip("/") == self.root:
                path = ""
            elif path.startswith(prefix):
                path = path[len(prefix) :]
            else:
                raise FileOpError("escape", f"{path} is outside the workspace {self.root}", path)
        parts = [part for part in path.split("/") if part not in ("", ".")]
        depth = 0
        for part in parts:
            depth += -1 if part == ".." else 1
            if depth < 0:
                raise FileOpError("escape", f"{original} leaves the workspace via '..'", original)
        return parts

    def display(self, path: str) -> str:
        """The logical workspace-relative form of a path, for listings."""
        rel = posixpath.normpath("/".join(self.relative(path)) or ".")
        return "" if rel == "." else rel

    def resolve(
        self,
        path: str,
        *,
        create: bool = False,
        follow: bool = True,
        made: Made | None = None,
        missing: list[str] | None = None,
    ) -> Resolved:
        """Walk to the path's parent directory; returns the open parent fd and the final name.

        The final name is ``None`` when the path is a directory reached by the walk itself (the
        root, or a path ending in ``..``). With ``follow``, a final symlink is resolved too.
        With ``create``, missing directories are made; ``made`` then collects them (a dup of
        each one's parent fd and its name), so a failed commit can remove them again. With a
        ``missing`` list instead, the walk stops at the first missing directory: it returns
        that directory's existing parent and puts the directories still to make in the list.
        """
        pending = self.relative(path)
        fds = [os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)]
        links = 0
        try:
            while pending:
                name = pending.pop(0)
                if name == "..":
                    if len(fds) == 1:
                        raise FileOpError("escape", f"{path} leaves the workspace via '..'", path)
                    os.close(fds.pop())
                    continue
                target = _readlink(fds[-1], name) if (pending or follow) else None
                if target is not None:
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise FileOpError("io", f"{path}: too many levels of symlinks", path)
                    pending = self._link_parts(target, path, fds) + pending
                    continue
                if not pending:
                    return Resolved(fds, name)
                if missing is not None and ".." not in pending:
                    try:
                        fds.append(self._open_dir(fds[-1], name, path, False))
                    except FileOpError as exc:
                        if exc.reason != "not_found":
                            raise
                        missing.extend([name, *pending[:-1]])
                        return Resolved(fds, pending[-1])
                    continue
                fds.append(self._open_dir(fds[-1], name, path, create, made))
            return Resolved(fds, None)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    def _link_parts(self, target: str, path: str, fds: list[int]) -> list[str]:
        if not target.startswith("/"):
            return [part for part in target.split("/") if part not in ("", ".")]
        if not (target.rstrip("/") == self.root or target.startswith(self.root.rstrip("/") + "/")):
            raise FileOpError("escape", f"{path}: a symlink leads out of the workspace", path)
        while len(fds) > 1:
            os.close(fds.pop())
        return self.relative(target)

    @staticmethod
    def _open_dir(parent: int, name: str, path: str, create: bool, made: Made | None = None) -> int:
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        for _ in range(2):
            try:
                return _still_there(os.open(name, flags, dir_fd=parent), parent, name, path)
            except FileNotFoundError:
                if not create:
                    msg = f"{path}: no such directory {name!r}"
                    raise FileOpError("not_found", msg, path) from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=parent)
                    if made is not None:
                        made.append((os.dup(parent), name))
            except OSError as exc:
                raise nofollow_error(exc, path, "walk") from None
        raise FileOpError("io", f"{path}: could not create directory {name!r}", path)


def _still_there(fd: int, parent: int, name: str, path: str) -> int:
    """``fd`` when ``name`` in ``parent`` is (still) the very directory it is open on; raises
    ``escape`` otherwise, closing it.

    Some kernels follow a final symlink despite ``O_NOFOLLOW`` when ``O_DIRECTORY`` is given
    (gVisor's runsc does): a link swapped in just before the open would then be walked through
    unseen. Looking at the name again without following (after the open) catches it: a link,
    or another directory than the one opened, means the path changed during the walk.
    """
    try:
        named = os.stat(name, dir_fd=parent, follow_symlinks=False)
        opened = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise os_error(exc, path) from None
    if stat.S_ISDIR(named.st_mode) and (named.st_dev, named.st_ino) == (
        opened.st_dev,
        opened.st_ino,
    ):
        return fd
    os.close(fd)
    raise FileOpError("escape", f"{path}: symlink changed during the walk", path)


def _readlink(dir_fd: int, name: str) -> str | None:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


class Resolved:
    """An open parent directory (plus its ancestors' fds) and the final name within it."""

    def __init__(self, fds: list[int], name: str | None) -> None:
        self.fds = fds
        self.name = name

    @property
    def parent(self) -> int:
        return self.fds[-1]

    def __enter__(self) -> Resolved:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds:
            os.close(fd)
