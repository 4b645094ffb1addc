"""What every part of the runner shares: the request and reply types, the chunk size, and the
errors a request can end with (their ``reason`` is one of the SandboxFileError reasons)."""

from __future__ import annotations

import errno
from typing import Any, Dict, List, Tuple  # noqa: UP035

CHUNK = 65536

# typing.Dict, not dict[...]: these aliases are evaluated at run time, on python3 < 3.9 too.
Request = Dict[str, Any]  # noqa: UP006
Reply = Dict[str, Any]  # noqa: UP006
Made = List[Tuple[int, str]]  # noqa: UP006


class FileOpError(Exception):
    """A file operation failed; ``reason`` is one of the SandboxFileError reasons."""

    def __init__(self, reason: str, message: str, path: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.path = path


class BadRequest(Exception):
    """The request itself is wrong (unknown op, empty command): a client bug, not a file error."""


_ERRNO_REASONS = {
    errno.ENOENT: "not_found",
    errno.EISDIR: "is_directory",
    errno.ENOTDIR: "not_a_directory",
    errno.EEXIST: "exists",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.ENOTEMPTY: "exists",
}


def os_error(exc: OSError, path: str) -> FileOpError:
    reason = _ERRNO_REASONS.get(exc.errno or 0, "io")
    return FileOpError(reason, f"{path}: {exc.strerror or exc}", path)


def nofollow_error(exc: OSError, path: str, during: str) -> FileOpError:
    """The error of an ``O_NOFOLLOW`` open: ELOOP there is a symlink swapped in after we looked
    (readlink said it was none), so it is refused as an escape."""
    if exc.errno == errno.ELOOP:
        return FileOpError("escape", f"{path}: symlink changed during the {during}", path)
    return os_error(exc, path)
