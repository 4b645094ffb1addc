"""The format version of the run's data (``RunSpec``, ``RunResult``) and its check.

Part of ``loop``: a description made by a newer sandloop is refused clearly, saying which
version this one reads, instead of being half understood.
"""

from __future__ import annotations

from typing import Any

from sandloop.errors import ConfigError

__all__ = ("FORMAT_VERSION", "check_version")

#: The format version this sandloop writes and reads.
FORMAT_VERSION = 1


def check_version(version: Any, *, what: str) -> None:
    """Refuse a description without a usable format version, or with a newer one.

    Raises:
        ConfigError: saying which version this sandloop reads.
    """
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(
            f"a {what} description needs a format 'version' (this sandloop reads version "
            f"{FORMAT_VERSION}), got {version!r}"
        )
    if version > FORMAT_VERSION:
        raise ConfigError(
            f"this {what} description has format version {version}, newer than this sandloop "
            f"reads (version {FORMAT_VERSION}): upgrade sandloop to read it"
        )
