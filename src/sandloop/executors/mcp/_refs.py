"""``${NAME}`` references in an MCP server's options, and the check that keeps secrets out of
its description.

Part of ``executors.mcp``. Every string option of :class:`~sandloop.executors.mcp.MCPServer`
(command, args, env values, cwd, URL, header values) may hold ``${NAME}`` references to the
environment of the process that runs the agent. They are expanded when a run connects the
server, never before, so a described server (``RunSpec.to_dict()``, a journal header) carries
the reference, not the secret. A literal value in a place that usually holds a credential (an
``Authorization`` header, an env var named ``*TOKEN*``) is refused when the server is
described: it would land in a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from sandloop.errors import ConfigError

__all__ = ("expand", "has_reference", "refuse_literal_secret")

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Words in a header or variable name that mark its value as a credential.
_SECRET_WORDS = ("AUTH", "TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "COOKIE", "CREDENTIAL")


def has_reference(value: str) -> bool:
    """Whether ``value`` holds at least one ``${NAME}`` reference."""
    return _REFERENCE.search(value) is not None


def expand(value: str, *, what: str, environ: Mapping[str, str] | None = None) -> str:
    """``value`` with each ``${NAME}`` replaced by that environment variable.

    Raises:
        ConfigError: a referenced variable is not set (``what`` names the option).
    """
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        found = env.get(name)
        if found is None:
            raise ConfigError(f"{what} refers to ${{{name}}}, but {name} is not set")
        return found

    return _REFERENCE.sub(replace, value)


def refuse_literal_secret(key: str, value: str, *, what: str) -> None:
    """Refuse to describe a credential-looking ``key`` whose value is written out literally.

    Raises:
        ConfigError: ``key`` names a credential and ``value`` holds no ``${NAME}`` reference.
    """
    upper = key.upper()
    if value and not has_reference(value) and any(w in upper for w in _SECRET_WORDS):
        raise ConfigError(
            f"{what} {key!r} looks like a credential written out literally; describing the server "
            f"would write it into a file: give it as a reference instead, e.g. {key}='${{MY_VAR}}' "
            "(expanded from the environment when the run connects the server)"
        )
