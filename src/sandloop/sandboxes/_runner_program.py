"""The runner program as the host sees it: files to send, never modules to import.

The runner (``runner/``, a stdlib-only package run by the sandbox's own python3) is packed into
one zip, ``python3 runner.zip ROOT``, that the host sends to wherever the sandbox is. Its modules
are built for python3 >= 3.8 and are never imported by the host; what both sides must agree on
(the frame format, the size cap) is written down again in ``_protocol``.
"""

from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

__all__ = ("OLDEST_PYTHON", "RUNNER_DIR", "runner_files", "runner_zip")

#: The runner program's directory (``python3 RUNNER_DIR ROOT`` runs it).
RUNNER_DIR = Path(__file__).with_name("runner")
#: The oldest python3 the runner runs on (the images' and hosts' python, not sandloop's own).
OLDEST_PYTHON = (3, 8)
# A fixed timestamp: the same sources always make the same zip.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def runner_files() -> list[Path]:
    """Every file of the runner program, relative to :data:`RUNNER_DIR`, sorted."""
    return sorted(
        path.relative_to(RUNNER_DIR)
        for path in RUNNER_DIR.rglob("*.py")
        if "__pycache__" not in path.parts
    )


@functools.cache
def runner_zip() -> bytes:
    """The runner program as a zip archive (``__main__.py`` at its root)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel in runner_files():
            info = zipfile.ZipInfo(rel.as_posix(), date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (RUNNER_DIR / rel).read_bytes())
    return buf.getvalue()
