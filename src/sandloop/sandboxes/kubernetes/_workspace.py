"""Copy-mode transfers over the runner channel: in with ``tar -x``, out with ``tar -c``.

Part of ``sandboxes.kubernetes``. A pod has no archive API like Docker's, so the provisioner's
``put_tree`` and ``get_tree`` run one command each through the runner itself (the tar as its
stdin, or as its stdout); the core's ``_copy_mode`` keeps the baseline and makes the diffs. The
tree read back is judged header by header under the size caps (``_copy.copy_capped``), as
Docker's is. One transfer travels in one runner frame, so each is also capped at
:data:`CHANNEL_MAX` bytes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from typing import IO, Any

import anyio

from sandloop.errors import SandboxError, SandboxStartError, WorkspaceTooLargeError
from sandloop.sandboxes import _copy
from sandloop.sandboxes.base import ExecResult

__all__ = ("CHANNEL_MAX", "Exec", "channel_limits", "get_tree", "put_tree")

#: The most bytes of tar one transfer carries (it is base64 inside one runner frame).
CHANNEL_MAX = 256 << 20
#: Seconds one transfer may take.
_TRANSFER_TIMEOUT = 600.0
#: ``Sandbox.exec``: how the transfers reach the pod.
Exec = Callable[..., Awaitable[ExecResult]]


def channel_limits(limits: _copy.CopyLimits) -> _copy.CopyLimits:
    """``limits``, each at most :data:`CHANNEL_MAX`."""
    return _copy.CopyLimits(
        min(limits.max_file_size, CHANNEL_MAX), min(limits.max_total_size, CHANNEL_MAX)
    )


async def put_tree(run: Exec, workdir: str, tar: IO[bytes]) -> None:
    """Unpack ``tar`` (members relative to the workspace) into ``workdir`` in the pod."""
    data = await anyio.to_thread.run_sync(tar.read)
    if len(data) > CHANNEL_MAX:
        raise SandboxStartError(
            f"the workspace's tar is {len(data)} bytes: over the {CHANNEL_MAX} bytes one "
            "transfer over the pod's channel carries"
        )
    argv = ["tar", "-x", "-p", "-f", "-", "-C", workdir]
    result = await run(argv, stdin=data, timeout=_TRANSFER_TIMEOUT)
    if not result.ok:
        raise SandboxStartError(f"copying the workspace in failed: {result.stderr_text()[-500:]}")


async def get_tree(run: Exec, workdir: str, limits: _copy.CopyLimits) -> IO[bytes]:
    """The pod's workspace as a tar (members under the workspace's own name), capped."""
    parent, _, leaf = workdir.rstrip("/").rpartition("/")
    result = await run(
        ["tar", "-c", "-f", "-", "-C", parent or "/", leaf],
        timeout=_TRANSFER_TIMEOUT,
        max_output=limits.max_total_size + (1 << 20),  # room for the tar's own headers
    )
    if result.stdout_dropped:
        raise WorkspaceTooLargeError(
            f"not copied: the workspace is over {limits.max_total_size} bytes of tar",
            path=".",
            size=len(result.stdout) + result.stdout_dropped,
            limit=limits.max_total_size,
        )
    if result.exit_code not in (0, 1):  # 1: a file changed while it was read
        raise SandboxError(f"reading the workspace failed: {result.stderr_text()[-500:]}")
    out: Any = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    try:
        await anyio.to_thread.run_sync(lambda: _copy.copy_capped([result.stdout], out, limits))
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out  # type: ignore[no-any-return]
