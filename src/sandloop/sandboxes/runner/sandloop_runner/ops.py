"""The operations table: request ``op`` name to the function that serves it.

To add an operation, write ``def op_name(runner, request) -> dict`` in the module it belongs to
and add it to ``OPS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .channels import op_connect
from .commands import op_cancel, op_exec, op_ping
from .commits import op_write_files
from .common import Reply, Request
from .desktop import op_desktop
from .files import op_delete, op_listdir, op_read, op_stat, op_write

if TYPE_CHECKING:
    from collections.abc import Callable

    from .serve import Runner

#: Operations run inline on the reader thread (they must be quick and never block).
INLINE = {"cancel", "ping"}

OPS: dict[str, Callable[[Runner, Request], Reply]] = {
    "exec": op_exec,
    "cancel": op_cancel,
    "ping": op_ping,
    "read": op_read,
    "write": op_write,
    "delete": op_delete,
    "write_files": op_write_files,
    "stat": op_stat,
    "listdir": op_listdir,
    "desktop": op_desktop,
    "connect": op_connect,
}
