"""Copy mode, once for every backend: a host tree copied in, its edits read back as a patch.

:class:`CopiedWorkspace` packs the host directory (``_copy.pack_tree``), hands the tar to the
provisioner's ``put_tree`` and keeps it as the baseline; ``diff``, ``set_baseline`` and ``export``
read the sandbox's tree back through the provisioner's ``get_tree`` (hostile data: capped by
``CopyLimits`` as it arrives, extracted without links leading out).
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import anyio

from sandloop.errors import ConfigError, SandboxError, SandboxStartError
from sandloop.sandboxes import _copy
from sandloop.sandboxes.provisioner import Provisioner

__all__ = ("CopiedWorkspace",)


class CopiedWorkspace:
    """The copy of ``source`` in the provisioner's environment, and the tree it started from."""

    def __init__(self, provisioner: Provisioner, source: Path, limits: _copy.CopyLimits) -> None:
        self._provisioner = provisioner
        self.source = source
        self.limits = limits
        self._baseline: IO[bytes] | None = None
        self._strip = 0  # leading path components of the baseline tar's member names

    async def copy_in(self, uid: int, gid: int) -> None:
        """Send the host tree in, its files owned by ``uid:gid``; it becomes the baseline."""
        source, limits = self.source, self.limits
        baseline = tempfile.TemporaryFile()  # noqa: SIM115 - kept until close()
        self.close()
        self._baseline = baseline
        try:
            await anyio.to_thread.run_sync(
                lambda: _copy.pack_tree(source, baseline, uid=uid, gid=gid, limits=limits)
            )
        except OSError as exc:
            raise SandboxStartError(f"could not copy the workspace {source}: {exc}") from exc
        baseline.seek(0)
        await self._provisioner.put_tree(baseline)

    def close(self) -> None:
        if self._baseline is not None:
            self._baseline.close()
            self._baseline, self._strip = None, 0

    def _started(self, what: str) -> IO[bytes]:
        if self._baseline is None:
            raise ConfigError(f"{what} needs a started sandbox with mount='copy'")
        return self._baseline

    async def diff_bytes(self, exclude: Sequence[str]) -> bytes:
        baseline, strip = self._started("diff()"), self._strip
        current = await self._provisioner.get_tree(self.limits)

        def compare() -> bytes:
            baseline.seek(0)
            with tarfile.open(fileobj=baseline) as old, tarfile.open(fileobj=current) as new:
                return _copy.diff_trees(
                    old,
                    _copy.index_tar(old, strip=strip),
                    new,
                    _copy.index_tar(new, strip=1),
                    exclude=exclude,
                )

        try:
            return await anyio.to_thread.run_sync(compare)
        finally:
            current.close()

    async def set_baseline(self) -> None:
        self._started("set_baseline()")
        current = await self._provisioner.get_tree(self.limits)
        self.close()
        self._baseline, self._strip = current, 1

    async def export(self, path: str | os.PathLike[str]) -> None:
        current = await self._provisioner.get_tree(self.limits)
        dest = Path(path)

        def extract() -> None:
            with tarfile.open(fileobj=current) as tar:
                _copy.extract_tree(tar, dest, strip=1)

        try:
            await anyio.to_thread.run_sync(extract)
        except FileExistsError as exc:
            raise ConfigError(str(exc)) from exc
        except (tarfile.TarError, OSError) as exc:  # e.g. a link pointing out of `path`
            raise SandboxError(f"could not export the workspace to {dest}: {exc}") from exc
        finally:
            current.close()

    @property
    def ready(self) -> bool:
        return self._baseline is not None
