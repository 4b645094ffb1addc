"""Defaults for ``sandloop run`` from config files: the user's, and the repository's own.

Part of ``cli``. Two files, each optional, TOML:

- the user's ``$XDG_CONFIG_HOME/sandloop/config.toml`` (default ``~/.config/sandloop/``):
  every key below;
- the repository's ``sandloop.toml``: only keys that cannot loosen the sandbox or redirect the
  API key (:data:`REPO_KEYS`). In bind mode the model can write that file, so a setting such as
  ``network = true``, ``approve = "auto"`` or ``base_url`` there would let one run hand the next
  one more power, or send the key elsewhere; such keys are refused with a clear error.

Precedence: a flag, then an environment variable (``SANDLOOP_MODEL``, ``SANDLOOP_IMAGE``), then
the repository's file, then the user's, then the built-in default. Files are read as the host
reads anything the model may have written: not through a link, regular files only, size-capped.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandloop.errors import ConfigError

__all__ = ("MAX_CONFIG_BYTES", "REPO_KEYS", "USER_KEYS", "load_defaults", "user_config_path")

#: Keys and their types. ``approve``, ``network`` and ``base_url`` only in the user's file.
USER_KEYS: Mapping[str, type | tuple[type, ...]] = {
    "model": str,
    "image": str,
    "instructions": str,
    "max_turns": int,
    "timeout": (int, float),
    "token_budget": int,
    "max_retries": int,
    "approve": str,
    "network": bool,
    "base_url": str,
}
REPO_KEYS = frozenset(USER_KEYS) - {"approve", "network", "base_url"}
MAX_CONFIG_BYTES = 64 * 1024
_APPROVE = ("auto", "ask", "deny", "defer")


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/sandloop/config.toml``, default ``~/.config/sandloop/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sandloop" / "config.toml"


def load_defaults(repo: Path) -> dict[str, Any]:
    """The merged defaults: the repository's ``sandloop.toml`` over the user's config.

    Raises:
        ConfigError: a file that is not TOML, too large, not a regular file, or holds an
            unknown key, a value of the wrong type, or a key its place may not set.
    """
    merged = _read(user_config_path(), frozenset(USER_KEYS))
    merged.update(_read(repo / "sandloop.toml", REPO_KEYS))
    return merged


def _read(path: Path, allowed: frozenset[str]) -> dict[str, Any]:
    data = _load(path)
    if data is None:
        return {}
    for key, value in data.items():
        if key not in USER_KEYS:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(USER_KEYS)})")
        if key not in allowed:
            raise ConfigError(
                f"{path}: {key!r} may not be set in a repository's sandloop.toml (the agent can "
                f"write that file); set it in {user_config_path()} or with a flag"
            )
        kind = USER_KEYS[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{path}: {key} = {value!r} has the wrong type")
    if "approve" in data and data["approve"] not in _APPROVE:
        raise ConfigError(f"{path}: approve must be one of {', '.join(_APPROVE)}")
    return dict(data)


def _load(path: Path) -> dict[str, Any] | None:
    """The file's TOML, read without following a link; ``None`` when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read as a config file ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file")
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
