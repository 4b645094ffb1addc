"""A copied workspace over the runner channel: in with ``tar -x``, out with ``tar -c``.

Part of ``sandboxes.kubernetes``. A pod has no archive API like Docker's, so the workspace
travels through the runner as one command's stdin and stdout. The baseline (what was copied in)
stays on the host in a temporary file; :meth:`CopiedWorkspace.diff_bytes` fetches the pod's tree
and diffs the two with ``_copy``, the tree judged header by header under the size caps exactly as
Docker's is. One transfer goes in one runner frame, so each is also capped at
:data:`CHANNEL_MAX` bytes.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import anyio

from sandloop.errors import ConfigError, SandboxError, SandboxStartError, WorkspaceTooLargeError
from sandloop.sandboxes import _copy
from sandloop.sandboxes.base import Sandbox

__all__ = ("CHANNEL_MAX", "CopiedWorkspace")

#: The most bytes of tar one transfer carries (it is base64 inside one runner frame).
CHANNEL_MAX = 256 << 20


class CopiedWorkspace:
    """The host side of a copied workspace: the baseline and the transfers.

    Args:
        sandbox: The started sandbox whose ``exec`` carries the transfers.
        source: The host directory copied in.
        limits: The size caps (each at most :data:`CHANNEL_MAX`).
    """

    def __init__(self, sandbox: Sandbox, source: Path, limits: _copy.CopyLimits) -> None:
        self._sandbox = sandbox
        self._source = source
        self.limits = _copy.CopyLimits(
            min(limits.max_file_size, CHANNEL_MAX), min(limits.max_total_size, CHANNEL_MAX)
        )
        self._baseline: IO[bytes] | None = None
        self._strip = 0

    async def copy_in(self, uid: int, gid: int) -> None:
        baseline = tempfile.TemporaryFile()  # noqa: SIM115 - kept until close()
        self._baseline = baseline
        try:
            await anyio.to_thread.run_sync(
                lambda: _copy.pack_tree(
                    self._source, baseline, uid=uid, gid=gid, limits=self.limits
                )
            )
        except OSError as exc:
            raise SandboxStartError(f"could not copy the workspace {self._source}: {exc}") from exc
        baseline.seek(0)
        data = baseline.read()
        workdir = self._sandbox.workdir
        result = await self._sandbox.exec(
            ["tar", "-x", "-p", "-f", "-", "-C", workdir], stdin=data, timeout=600
        )
        if not result.ok:
            raise SandboxStartError(
                f"copying the workspace in failed: {result.stderr_text()[-500:]}"
            )

    async def fetch(self) -> IO[bytes]:
        """The pod's workspace as a tar (members under ``workspace/``), capped."""
        workdir = self._sandbox.workdir.rstrip("/")
        parent, _, leaf = workdir.rpartition("/")
        result = await self._sandbox.exec(
            ["tar", "-c", "-f", "-", "-C", parent or "/", leaf],
            timeout=600,
            max_output=self.limits.max_total_size + (1 << 20),
        )
        if result.stdout_dropped:
            raise WorkspaceTooLargeError(
                f"not copied: the workspace is over {self.limits.max_total_size} bytes of tar",
                path=".",
                size=len(result.stdout) + result.stdout_dropped,
                limit=self.limits.max_total_size,
            )
        if result.exit_code not in (0, 1):  # 1: a file changed while it was read
            raise SandboxError(f"reading the workspace failed: {result.stderr_text()[-500:]}")
        out = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
        try:
            await anyio.to_thread.run_sync(
                lambda: _copy.copy_capped([result.stdout], out, self.limits)
            )
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    def _started(self, what: str) -> IO[bytes]:
        if self._baseline is None:
            raise ConfigError(f"{what} needs a started sandbox with a copied workspace")
        return self._baseline

    async def diff_bytes(self, exclude: Sequence[str]) -> bytes:
        baseline, strip = self._started("diff()"), self._strip
        current = await self.fetch()

        def compare() -> bytes:
            baseline.seek(0)
            with tarfile.open(fileobj=baseline) as old, tarfile.open(fileobj=current) as new:
                old_index = _copy.index_tar(old, strip=strip)
                return _copy.diff_trees(
                    old, old_index, new, _copy.index_tar(new, strip=1), exclude=exclude
                )

        try:
            return await anyio.to_thread.run_sync(compare)
        finally:
            current.close()

    async def set_baseline(self) -> None:
        self._started("set_baseline()").close()
        self._baseline, self._strip = await self.fetch(), 1

    async def export(self, path: Path) -> None:
        current = await self.fetch()

        def extract() -> None:
            with tarfile.open(fileobj=current) as tar:
                _copy.extract_tree(tar, path, strip=1)

        try:
            await anyio.to_thread.run_sync(extract)
        except FileExistsError as exc:
            raise ConfigError(str(exc)) from exc
        except (tarfile.TarError, OSError) as exc:
            raise SandboxError(f"could not export the workspace to {path}: {exc}") from exc
        finally:
            current.close()

    def close(self) -> None:
        if self._baseline is not None:
            self._baseline.close()
            self._baseline = None
