"""The single-file operations: ``read``, ``write``, ``delete``, ``stat`` and ``listdir``."""

from __future__ import annotations

import base64
import contextlib
import os
import posixpath
import secrets
import stat
from typing import TYPE_CHECKING

from .common import FileOpError, Reply, Request, nofollow_error, os_error
from .paths import Workspace

if TYPE_CHECKING:
    from .serve import Runner

CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


def op_read(runner: Runner, req: Request) -> Reply:
    path = str(req["path"])
    with runner.workspace.resolve(path) as res:
        if res.name is None:
            raise FileOpError("is_directory", f"{path} is a directory", path)
        try:
            fd = os.open(res.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=res.parent)
        except OSError as exc:
            raise nofollow_error(exc, path, "read") from None
        _check_regular(fd, path)
        with os.fdopen(fd, "rb") as fh:
            limit = req.get("max_bytes")
            size = os.fstat(fd).st_size
            if limit is not None and size > int(limit):
                msg = f"{path} is {size} bytes, more than the {limit} allowed"
                raise FileOpError("too_large", msg, path)
            # Bounded also when the file grows meanwhile: the reply must stay within the cap.
            data = fh.read() if limit is None else fh.read(int(limit) + 1)
            if limit is not None and len(data) > int(limit):
                msg = f"{path} grew past the {limit} bytes allowed while it was read"
                raise FileOpError("too_large", msg, path)
    return {"data": base64.b64encode(data).decode("ascii")}


def _check_regular(fd: int, path: str) -> None:
    """Raise (closing the fd) unless it is a regular file: never read a directory or a FIFO."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise FileOpError("is_directory", f"{path} is a directory", path)
    raise FileOpError("io", f"{path} is not a regular file", path)


def op_write(runner: Runner, req: Request) -> Reply:
    path = str(req["path"])
    data = base64.b64decode(req.get("data") or "")
    with runner.workspace.resolve(path, create=True) as res:
        if res.name is None:
            raise FileOpError("is_directory", f"{path} is a directory", path)
        mode = req.get("mode")
        if mode is None:
            mode = existing_mode(res.parent, res.name, runner.default_mode)
        tmp = f".{res.name[:100]}.{secrets.token_hex(4)}.sandloop-tmp"
        try:
            fd = os.open(tmp, CREATE_FLAGS, 0o600, dir_fd=res.parent)
        except OSError as exc:
            raise os_error(exc, path) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                # Permission bits only: a written file never becomes setuid, setgid or sticky.
                os.fchmod(fd, int(mode) & 0o777)
            os.rename(tmp, res.name, src_dir_fd=res.parent, dst_dir_fd=res.parent)
        except OSError as exc:
            unlink_quietly(tmp, res.parent)
            raise os_error(exc, path) from None
    return {"size": len(data)}


def existing_mode(parent: int, name: str, default: int) -> int:
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError:
        return default
    return stat.S_IMODE(info.st_mode) & 0o777 if stat.S_ISREG(info.st_mode) else default


def unlink_quietly(name: str, parent: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=parent)


def op_delete(runner: Runner, req: Request) -> Reply:
    path = str(req["path"])
    with runner.workspace.resolve(path, follow=False) as res:
        if res.name is None:
            raise FileOpError("is_directory", f"{path} is a directory", path)
        try:
            info = os.stat(res.name, dir_fd=res.parent, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                raise FileOpError("is_directory", f"{path} is a directory", path)
            os.unlink(res.name, dir_fd=res.parent)
        except OSError as exc:
            raise os_error(exc, path) from None
    return {}


def _entry(path: str, info: os.stat_result) -> Reply:
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        kind = "symlink"
    elif stat.S_ISDIR(mode):
        kind = "dir"
    elif stat.S_ISREG(mode):
        kind = "file"
    else:
        kind = "other"
    return {"path": path, "kind": kind, "size": info.st_size, "mode": stat.S_IMODE(mode)}


def op_stat(runner: Runner, req: Request) -> Reply:
    path = str(req["path"])
    shown = runner.workspace.display(path) or "."
    try:
        with runner.workspace.resolve(path, follow=False) as res:
            if res.name is None:
                return {"entry": _entry(shown, os.fstat(res.parent))}
            info = os.stat(res.name, dir_fd=res.parent, follow_symlinks=False)
    except FileOpError as exc:
        if exc.reason in ("not_found", "not_a_directory"):
            return {"entry": None}
        raise
    except (FileNotFoundError, NotADirectoryError):
        return {"entry": None}
    return {"entry": _entry(shown, info)}


def op_listdir(runner: Runner, req: Request) -> Reply:
    path = str(req.get("path") or ".")
    base = runner.workspace.display(path)
    with runner.workspace.resolve(path) as res:
        dir_fd = res.parent
        if res.name is not None:
            dir_fd = Workspace._open_dir(res.parent, res.name, path, False)
            res.fds.append(dir_fd)
        entries = []
        for name in sorted(os.listdir(dir_fd)):
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue  # removed while we listed
            entries.append(_entry(posixpath.join(base, name) if base else name, info))
    return {"entries": entries}
